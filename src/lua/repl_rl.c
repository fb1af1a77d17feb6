/* repl_rl.c - readline completion over qdb_repl_complete, for the two
 * readline front ends of the REPL (`qdb lua` and the TUI console). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include "lua/repl.h"

/* The candidates of the completion in progress, read by generator(). */
static char **comp;

static char *generator(const char *text, int state)
{
	static int i;
	(void)text;
	if (!state)
		i = 0;
	if (!comp || !comp[i])
		return NULL;
	return strdup(comp[i++]);
}

char **qdb_repl_rl_complete(struct qdb_repl *r, const char *text, int end)
{
	rl_attempted_completion_over = 1;
	if (!r)
		return NULL;
	qdb_repl_free_completions(comp);
	comp = qdb_repl_complete(r, rl_line_buffer, (size_t)end);
	char **m = rl_completion_matches(text, generator);
	qdb_repl_free_completions(comp);
	comp = NULL;
	return m;
}
