/* repl.c - the terminal-independent Lua REPL core (see repl.h).
 *
 * The value printer and the completer are small Lua functions compiled
 * into the binary (they walk tables, which is plain Lua); the C side does
 * the chunk handling, hooks and interrupts the way lua.c does.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "base/alloc.h"
#include "base/str.h"
#include "lua/qdb_lua.h"
#include "lua/repl.h"

#define EOFMARK "<eof>"
#define POLL_EVERY 10000 /* instructions between io.poll calls */

struct qdb_repl {
	lua_State *L;
	struct qdb_repl_io io;
	struct qdb_lua_interrupt intr;
	volatile sig_atomic_t running;
	struct qdb_buf chunk;
	int pending;
};

/* Registry keys (their addresses). */
static const char repl_key = 'r', fmt_key = 'f', complete_key = 'c';

static const char helpers_lua[] =
	"local keywords = {'and','break','do','else','elseif','end','false','for',\n"
	"  'function','goto','if','in','local','nil','not','or','repeat','return',\n"
	"  'then','true','until','while'}\n"
	"local function isident(s) return type(s) == 'string' and s:match('^[%a_][%w_]*$') ~= nil end\n"
	"local function qstr(s) return (string.format('%q', s):gsub('\\\\\\n', '\\\\n')) end\n"
	"local function keystr(k)\n"
	"  if isident(k) then return k end\n"
	"  if type(k) == 'string' then return '[' .. qstr(k) .. ']' end\n"
	"  return '[' .. tostring(k) .. ']'\n"
	"end\n"
	"local fmt\n"
	"fmt = function(v, quote, depth, seen)\n"
	"  local t = type(v)\n"
	"  if t == 'string' then return quote and qstr(v) or v end\n"
	"  if t ~= 'table' then return tostring(v) end\n"
	"  local mt = getmetatable(v)\n"
	"  if mt ~= nil and (type(mt) ~= 'table' or mt.__tostring or mt.__name) then return tostring(v) end\n"
	"  if seen[v] then return '<cycle>' end\n"
	"  if depth >= 4 then return '{...}' end\n"
	"  seen[v] = true\n"
	"  local items, n = {}, rawlen(v)\n"
	"  local limit = 64\n"
	"  for i = 1, math.min(n, limit) do items[#items + 1] = fmt(rawget(v, i), true, depth + 1, seen) end\n"
	"  if n > limit then items[#items + 1] = '... (' .. n .. ' items)' end\n"
	"  local keys = {}\n"
	"  for k in next, v do\n"
	"    if not (math.type(k) == 'integer' and k >= 1 and k <= n) then keys[#keys + 1] = k end\n"
	"  end\n"
	"  table.sort(keys, function(a, b)\n"
	"    local ta, tb = type(a), type(b)\n"
	"    if ta ~= tb then return ta < tb end\n"
	"    if ta == 'number' or ta == 'string' then return a < b end\n"
	"    return tostring(a) < tostring(b)\n"
	"  end)\n"
	"  for i, k in ipairs(keys) do\n"
	"    if i > limit then items[#items + 1] = '... (' .. #keys .. ' keys)'; break end\n"
	"    items[#items + 1] = keystr(k) .. ' = ' .. fmt(rawget(v, k), true, depth + 1, seen)\n"
	"  end\n"
	"  seen[v] = nil\n"
	"  local one = '{' .. table.concat(items, ', ') .. '}'\n"
	"  if #one <= 100 or depth > 0 then return one end\n"
	"  return '{\\n  ' .. table.concat(items, ',\\n  ') .. '\\n}'\n"
	"end\n"
	"local function format(v, quote) return fmt(v, quote, 0, {}) end\n"
	"\n"
	"local listdir = ...\n"
	"local function libnames(out)\n"
	"  for tmpl in package.path:gmatch('[^;]+') do\n"
	"    local dir = tmpl:match('^(.*)/%?%.lua$')\n"
	"    for _, f in ipairs(dir and listdir(dir .. '/qdb') or {}) do\n"
	"      local m = f:match('^([%w_]+)%.lua$')\n"
	"      if m then out[m] = 'lib' end\n"
	"    end\n"
	"  end\n"
	"end\n"
	"\n"
	"local function fields(v, methods_only, out)\n"
	"  local t = type(v)\n"
	"  local mt = getmetatable(v)\n"
	"  if t == 'table' then\n"
	"    for k, x in next, v do\n"
	"      if isident(k) and (not methods_only or type(x) == 'function') then out[k] = type(x) end\n"
	"    end\n"
	"    if v == package.loaded.qdb and not methods_only then libnames(out) end\n"
	"  end\n"
	"  if type(mt) == 'table' then\n"
	"    local m = rawget(mt, '__methods')\n"
	"    if type(m) ~= 'table' then m = rawget(mt, '__index') end\n"
	"    if type(m) == 'table' and m ~= v then\n"
	"      for k, x in next, m do\n"
	"        if isident(k) and (not methods_only or type(x) == 'function') then out[k] = type(x) end\n"
	"      end\n"
	"    end\n"
	"    local p = rawget(mt, '__props')\n"
	"    if type(p) == 'table' and not methods_only then\n"
	"      for _, k in ipairs(p) do out[k] = 'prop' end\n"
	"    end\n"
	"  end\n"
	"end\n"
	"\n"
	"local function complete(word)\n"
	"  local res = {}\n"
	"  local path, sep, prefix = word:match('^(.*)([.:])([%w_]*)$')\n"
	"  local names = {}\n"
	"  if not path then\n"
	"    prefix = word\n"
	"    if not prefix:match('^[%w_]*$') then return res end\n"
	"    fields(_G, false, names)\n"
	"    for _, k in ipairs(keywords) do names[k] = 'keyword' end\n"
	"    path, sep = '', ''\n"
	"  else\n"
	"    if not path:match('^[%a_][%w_]*$') and not path:match('^[%a_][%w_.]*[%w_]$') then return res end\n"
	"    local v = _G\n"
	"    for comp in path:gmatch('[^.]+') do\n"
	"      local x\n"
	"      if type(v) == 'table' then\n"
	"        x = rawget(v, comp)\n"
	"        if x == nil and v == package.loaded.qdb then x = v[comp] end\n"
	"        if x == nil then\n"
	"          local mt = getmetatable(v)\n"
	"          if type(mt) == 'table' and type(rawget(mt, '__index')) == 'table' then\n"
	"            x = rawget(rawget(mt, '__index'), comp)\n"
	"          end\n"
	"        end\n"
	"      elseif type(v) == 'userdata' then\n"
	"        local mt = getmetatable(v)\n"
	"        if type(mt) == 'table' and type(rawget(mt, '__props')) == 'table' then\n"
	"          for _, p in ipairs(rawget(mt, '__props')) do\n"
	"            if p == comp then x = v[comp] end\n"
	"          end\n"
	"        end\n"
	"      end\n"
	"      if x == nil then return res end\n"
	"      v = x\n"
	"    end\n"
	"    fields(v, sep == ':', names)\n"
	"  end\n"
	"  for k in pairs(names) do\n"
	"    if k:sub(1, #prefix) == prefix then res[#res + 1] = path .. sep .. k end\n"
	"  end\n"
	"  table.sort(res)\n"
	"  return res\n"
	"end\n"
	"return format, complete\n";

static void out_write(struct qdb_repl *r, const char *s, size_t n, int err)
{
	if (r->io.write) {
		r->io.write(r->io.user, s, n, err);
	} else {
		FILE *f = err ? stderr : stdout;
		fwrite(s, 1, n, f);
		fflush(f);
	}
}

static struct qdb_repl *repl_of(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &repl_key);
	struct qdb_repl *r = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return r;
}

/* print() through the front end's writer. */
static int repl_print(lua_State *L)
{
	struct qdb_repl *r = repl_of(L);
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		/* the separator first: buffer operations other than addvalue
		 * need the buffer's own slot on top of the stack */
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);
	if (r)
		out_write(r, s, len, 0);
	return 0;
}

/* pp(v, ...): prints values as the REPL shows results. */
static int repl_pp(lua_State *L)
{
	struct qdb_repl *r = repl_of(L);
	int n = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		qdb_repl_format(L, i, 1);
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		if (r) {
			out_write(r, s, len, 0);
			out_write(r, i < n ? "\t" : "", i < n ? 1 : 0, 0);
		}
		lua_pop(L, 1);
	}
	if (r)
		out_write(r, "\n", 1, 0);
	return 0;
}

void qdb_repl_format(lua_State *L, int idx, int quote)
{
	idx = lua_absindex(L, idx);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &fmt_key);
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		luaL_tolstring(L, idx, NULL);
		return;
	}
	lua_pushvalue(L, idx);
	lua_pushboolean(L, quote);
	lua_call(L, 2, 1);
}

static int msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static void stop_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct qdb_repl *r = repl_of(L);
	lua_sethook(L, NULL, 0, 0);
	if (r)
		r->intr.flag = 0;
	luaL_error(L, "interrupted!");
}

static void poll_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct qdb_repl *r = repl_of(L);
	if (r && (r->intr.flag || (r->io.poll && r->io.poll(r->io.user)))) {
		r->intr.flag = 0;
		luaL_error(L, "interrupted!");
	}
}

void qdb_repl_interrupt(struct qdb_repl *r)
{
	r->intr.flag = 1;
	/* Only while code runs: at the prompt the flag is cleared before the
	 * next statement. lua_sethook is safe from a signal handler. */
	if (r->running)
		lua_sethook(r->L, stop_hook,
			    LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static struct qdb_repl *sigint_repl;

static void on_sigint(int sig)
{
	(void)sig;
	if (sigint_repl)
		qdb_repl_interrupt(sigint_repl);
}

void qdb_repl_sigint_begin(struct qdb_repl *r, struct sigaction *old)
{
	struct sigaction sa;
	sigint_repl = r;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, old);
}

void qdb_repl_sigint_end(const struct sigaction *old)
{
	sigaction(SIGINT, old, NULL);
	sigint_repl = NULL;
}

static int module_poll(void *user)
{
	struct qdb_repl *r = user;
	return r->io.poll ? r->io.poll(r->io.user) : 0;
}

/* Calls the function below narg arguments with the traceback handler;
 * leaves nres results (or the error message). */
static int docall(struct qdb_repl *r, int narg, int nres)
{
	lua_State *L = r->L;
	int base = lua_gettop(L) - narg;
	lua_pushcfunction(L, msghandler);
	lua_insert(L, base);
	r->intr.flag = 0;
	if (r->io.poll)
		lua_sethook(L, poll_hook, LUA_MASKCOUNT, POLL_EVERY);
	r->running = 1;
	int status = lua_pcall(L, narg, nres, base);
	r->running = 0;
	lua_sethook(L, NULL, 0, 0);
	r->intr.flag = 0;
	lua_remove(L, base);
	return status;
}

static void write_error(struct qdb_repl *r)
{
	lua_State *L = r->L;
	size_t n;
	const char *msg = lua_tolstring(L, -1, &n);
	if (!msg) {
		msg = "(error object is not a string)";
		n = strlen(msg);
	}
	out_write(r, msg, n, 1);
	out_write(r, "\n", 1, 1);
	lua_pop(L, 1);
}

static int format_results(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		qdb_repl_format(L, i, 0);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	return 1;
}

/* Runs the compiled chunk on top of the stack and prints its results. */
static enum qdb_repl_status run_chunk(struct qdb_repl *r)
{
	lua_State *L = r->L;
	int base = lua_gettop(L) - 1;
	if (docall(r, 0, LUA_MULTRET) != LUA_OK) {
		write_error(r);
		return QDB_REPL_ERROR;
	}
	int n = lua_gettop(L) - base;
	if (n > 0) {
		luaL_checkstack(L, 3, "too many results to print");
		lua_pushcfunction(L, format_results);
		lua_insert(L, base + 1);
		if (docall(r, n, 1) != LUA_OK) {
			write_error(r);
			return QDB_REPL_ERROR;
		}
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		out_write(r, s, len, 0);
		lua_pop(L, 1);
	}
	lua_settop(L, base);
	return QDB_REPL_OK;
}

static int incomplete(lua_State *L, int status)
{
	if (status != LUA_ERRSYNTAX)
		return 0;
	size_t n;
	const char *msg = lua_tolstring(L, -1, &n);
	return msg && n >= sizeof EOFMARK - 1 &&
	       !strcmp(msg + n - (sizeof EOFMARK - 1), EOFMARK);
}

static int blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return 0;
	return 1;
}

enum qdb_repl_status qdb_repl_feed(struct qdb_repl *r, const char *line)
{
	lua_State *L = r->L;
	if (!r->pending) {
		qdb_buf_reset(&r->chunk);
		if (blank(line))
			return QDB_REPL_OK;
		qdb_buf_puts(&r->chunk, line);
		/* `return <line>` first, so expressions print their values. */
		const char *ret = lua_pushfstring(L, "return %s;", line);
		if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
			lua_remove(L, -2);
			return run_chunk(r);
		}
		lua_pop(L, 2);
	} else {
		qdb_buf_puts(&r->chunk, "\n");
		qdb_buf_puts(&r->chunk, line);
	}
	if (r->chunk.oom) {
		r->pending = 0;
		out_write(r, "out of memory\n", 14, 1);
		return QDB_REPL_ERROR;
	}
	int status = luaL_loadbuffer(L, r->chunk.s, r->chunk.len, "=stdin");
	if (incomplete(L, status)) {
		lua_pop(L, 1);
		r->pending = 1;
		return QDB_REPL_INCOMPLETE;
	}
	r->pending = 0;
	if (status != LUA_OK) {
		write_error(r);
		return QDB_REPL_ERROR;
	}
	return run_chunk(r);
}

void qdb_repl_reset(struct qdb_repl *r)
{
	r->pending = 0;
	qdb_buf_reset(&r->chunk);
}

int qdb_repl_pending(const struct qdb_repl *r)
{
	return r->pending;
}

const char *qdb_repl_chunk(const struct qdb_repl *r)
{
	return r->chunk.s;
}

const char *qdb_repl_prompt(const struct qdb_repl *r)
{
	return r->pending ? ">> " : "> ";
}

lua_State *qdb_repl_state(struct qdb_repl *r)
{
	return r->L;
}

/* listdir(path) -> {names} (the completer lists lua/qdb/ library files). */
static int listdir(lua_State *L)
{
	DIR *d = opendir(luaL_checkstring(L, 1));
	lua_newtable(L);
	if (!d)
		return 1;
	struct dirent *e;
	int i = 0;
	while ((e = readdir(d)) != NULL) {
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++i);
	}
	closedir(d);
	return 1;
}

static int init_state(lua_State *L)
{
	struct qdb_repl *r = lua_touserdata(L, 1);
	lua_pushlightuserdata(L, r);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &repl_key);
	qdb_lua_openlibs(L);
	qdb_lua_set_interrupt(L, &r->intr);
	lua_pushcfunction(L, repl_print);
	lua_setglobal(L, "print");
	lua_pushcfunction(L, repl_pp);
	lua_setglobal(L, "pp");
	if (luaL_loadbuffer(L, helpers_lua, sizeof helpers_lua - 1, "=repl"))
		return lua_error(L);
	lua_pushcfunction(L, listdir);
	lua_call(L, 1, 2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &complete_key);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &fmt_key);
	return 0;
}

struct qdb_repl *qdb_repl_new(const struct qdb_repl_io *io)
{
	struct qdb_repl *r = qdb_calloc(1, sizeof *r);
	if (!r)
		return NULL;
	if (io)
		r->io = *io;
	r->intr.poll = module_poll;
	r->intr.user = r;
	qdb_buf_init(&r->chunk);
	r->L = luaL_newstate();
	if (!r->L) {
		qdb_free(r);
		return NULL;
	}
	lua_pushcfunction(r->L, init_state);
	lua_pushlightuserdata(r->L, r);
	if (lua_pcall(r->L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "qdb: cannot start Lua: %s\n", lua_tostring(r->L, -1));
		lua_close(r->L);
		qdb_buf_done(&r->chunk);
		qdb_free(r);
		return NULL;
	}
	return r;
}

void qdb_repl_delete(struct qdb_repl *r)
{
	if (!r)
		return;
	lua_close(r->L);
	qdb_buf_done(&r->chunk);
	qdb_free(r);
}

int qdb_repl_run_script(struct qdb_repl *r, const char *path, int argc, char **argv)
{
	lua_State *L = r->L;
	int top = lua_gettop(L);
	lua_createtable(L, argc, 2);
	lua_pushstring(L, "qdb");
	lua_rawseti(L, -2, -2);
	lua_pushstring(L, "script");
	lua_rawseti(L, -2, -1);
	lua_pushstring(L, path ? path : "-");
	lua_rawseti(L, -2, 0);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");
	if (luaL_loadfile(L, path) != LUA_OK) {
		write_error(r);
		lua_settop(L, top);
		return 2;
	}
	luaL_checkstack(L, argc + 2, "too many arguments to script");
	for (int i = 0; i < argc; i++)
		lua_pushstring(L, argv[i]);
	if (docall(r, argc, 1) != LUA_OK) {
		write_error(r);
		lua_settop(L, top);
		return 1;
	}
	int status = 0;
	if (lua_isboolean(L, -1))
		status = lua_toboolean(L, -1) ? 0 : 1;
	else if (lua_isinteger(L, -1))
		status = (int)(lua_tointeger(L, -1) & 0xff);
	lua_settop(L, top);
	return status;
}

static int complete_protected(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &complete_key);
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':';
}

char **qdb_repl_complete(struct qdb_repl *r, const char *text, size_t len)
{
	lua_State *L = r->L;
	size_t start = len;
	while (start > 0 && word_char(text[start - 1]))
		start--;
	int top = lua_gettop(L);
	lua_pushcfunction(L, complete_protected);
	lua_pushlstring(L, text + start, len - start);
	char **out = NULL;
	if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
		size_t n = lua_rawlen(L, -1);
		out = qdb_calloc(n + 1, sizeof *out);
		for (size_t i = 0; out && i < n; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			const char *s = lua_tostring(L, -1);
			out[i] = qdb_strdup(s ? s : "");
			lua_pop(L, 1);
			if (!out[i]) {
				qdb_repl_free_completions(out);
				out = NULL;
			}
		}
	}
	lua_settop(L, top);
	return out;
}

void qdb_repl_free_completions(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		qdb_free(*p);
	qdb_free(v);
}

const char *qdb_repl_history_path(void)
{
	static char path[4096];
	const char *env = getenv("QDB_HISTORY");
	if (env && *env) {
		snprintf(path, sizeof path, "%s", env);
		return path;
	}
	const char *home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	if ((size_t)snprintf(path, sizeof path, "%s/.qdb_history", home) >= sizeof path)
		return NULL;
	return path;
}
