-- Tandem's script sandbox, run once on a fresh Lua state (see vm.rs).
--
-- Redis 7.0 patches its Lua so that tables can be made read-only, and freezes the globals and
-- every library table after loading them. Stock Lua 5.1 has no such flag, so here each
-- protected table is replaced by an empty proxy whose metatable reads through to the real
-- table and refuses writes; the builtins that bypass metatables (rawset, rawget, next,
-- pairs, ipairs, setmetatable) are wrapped to see through proxies and to refuse them too.
--
-- Arguments: the real globals table, the bridge table (filled by Rust while a script runs),
-- and Rust helpers. Returns the proxy to install as the globals table.

local G, bridge, rust = ...

local error, type, select, tostring, next, rawget, rawset, setmetatable, getmetatable, ipairs, pairs, loadstring, pcall =
    error, type, select, tostring, next, rawget, rawset, setmetatable, getmetatable, ipairs, pairs, loadstring, pcall

local READONLY = "Attempt to modify a readonly table"
-- proxy -> the table it shows; weak so dropped proxies go away.
local backing = setmetatable({}, { __mode = "k" })

local function refuse()
    error(READONLY, 2)
end

-- A metatable as seen by getmetatable(): frozen and showing nothing.
local frozen_meta = setmetatable({}, { __newindex = refuse, __metatable = false })
backing[frozen_meta] = {}

local protect
local function proxy_of(t, seen)
    local p = seen[t]
    if p then
        return p
    end
    p = {}
    seen[t] = p
    for k, v in next, t do
        if type(v) == "table" and not backing[v] then
            rawset(t, k, proxy_of(v, seen))
        end
    end
    setmetatable(p, { __index = t, __newindex = refuse, __metatable = frozen_meta })
    backing[p] = t
    return p
end
protect = function(t)
    return proxy_of(t, {})
end

-- Reading a global that does not exist is an error (redis luaSetErrorMetatable).
setmetatable(G, {
    __index = function(_, name)
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end,
})

-- redis.call, redis.pcall and redis.acl_check_cmd are installed by Rust (vm.rs, run.rs): C
-- functions, so `return redis.call(..)` keeps the script's frame for error locations.
local redis = G.redis
local function outside(what)
    error({ err = "ERR " .. what .. " can only be called inside a script invocation" })
end
function redis.setresp(...)
    if not bridge.exec then
        outside("redis.setresp")
    end
    if select("#", ...) ~= 1 then
        error({ err = "ERR redis.setresp() requires one argument." })
    end
    local v = tonumber((...))
    if v ~= 2 and v ~= 3 then
        error({ err = "ERR RESP version must be 2 or 3." })
    end
    bridge.setresp(v)
end
function redis.set_repl(...)
    if not bridge.exec then
        outside("redis.set_repl")
    end
    if select("#", ...) ~= 1 then
        error({ err = "ERR redis.set_repl() requires two arguments." })
    end
    local v = tonumber((...)) or 0
    if v ~= 0 and v ~= 1 and v ~= 2 and v ~= 3 then
        error({ err = "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE." })
    end
    bridge.set_repl(v)
end
-- Both do something only in a debugging session (SCRIPT DEBUG, ldb.rs).
function redis.breakpoint()
    return bridge.breakpoint()
end
function redis.debug(...)
    bridge.debug(...)
end
function redis.replicate_commands()
    return true
end

-- math.random with Redis's own generator (redis_math_random): the same sequence as Redis.
local floor = math.floor
local function checkint(v, n, fname)
    local x = tonumber(v)
    if x == nil then
        error("bad argument #" .. n .. " to '" .. (fname or "random") .. "' (number expected, got " .. (v == nil and "no value" or type(v)) .. ")", 3)
    end
    return x - x % 1
end
G.math.random = function(...)
    if not bridge.exec then
        error("math.random can only be called inside a script invocation", 2)
    end
    local r = rust.rand()
    local n = select("#", ...)
    if n == 0 then
        return r
    elseif n == 1 then
        local u = checkint((...), 1)
        if u < 1 then
            error("bad argument #1 to 'random' (interval is empty)", 2)
        end
        return floor(r * u) + 1
    elseif n == 2 then
        local l, u = ...
        l, u = checkint(l, 1), checkint(u, 2)
        if l > u then
            error("bad argument #2 to 'random' (interval is empty)", 2)
        end
        return floor(r * (u - l + 1)) + l
    end
    error("wrong number of arguments", 2)
end
G.math.randomseed = function(seed)
    if not bridge.exec then
        error("math.randomseed can only be called inside a script invocation", 2)
    end
    rust.srand(checkint(seed, 1, "randomseed"))
end

-- pcall turns an error table into its message (redis luaRedisPcall).
local function pcall_result(ok, ...)
    if ok then
        return ok, ...
    end
    local e = ...
    if type(e) == "userdata" then
        -- An error raised by redis.call: its message, as Redis gives it.
        local text = rust.errtext(e)
        if text then
            return false, text
        end
    elseif type(e) == "table" then
        local msg = rawget(e, "err")
        if type(msg) == "string" or type(msg) == "number" then
            return false, msg
        end
    end
    return false, e
end
G.pcall = function(...)
    return pcall_result(pcall(...))
end

-- Bytecode cannot be loaded (Redis disables it): such a chunk fails to compile.
G.loadstring = function(s, name)
    if type(s) == "string" and s:byte(1) == 27 then
        return nil, "[string \"?\"]:1: unexpected symbol near char(27)"
    end
    return loadstring(s, name)
end
-- load(reader [, name]) as Lua 5.1 has it, through the same refusal of bytecode.
local concat = table.concat
G.load = function(reader, name)
    if type(reader) ~= "function" then
        error("bad argument #1 to 'load' (function expected, got " .. type(reader) .. ")", 2)
    end
    local pieces = {}
    while true do
        local piece = reader()
        if piece == nil or piece == "" then
            break
        end
        if type(piece) ~= "string" then
            return nil, "reader function must return a string"
        end
        pieces[#pieces + 1] = piece
    end
    return G.loadstring(concat(pieces), name or "=(load)")
end

-- The builtins that would see or change a protected table directly. Their argument errors are
-- raised at the caller's line with the C builtin's text (luaL_checktype), not at ours.
local function check_table(n, fname, given, v)
    if type(v) ~= "table" then
        local got = given < n and "no value" or type(v)
        error("bad argument #" .. n .. " to '" .. fname .. "' (table expected, got " .. got .. ")", 3)
    end
end
G.rawset = function(t, k, v)
    if backing[t] then
        error(READONLY, 0)
    end
    return rawset(t, k, v)
end
G.rawget = function(...)
    local t, k = ...
    check_table(1, "rawget", select("#", ...), t)
    local b = backing[t]
    if b then
        return rawget(b, k)
    end
    return rawget(t, k)
end
G.setmetatable = function(...)
    local t, mt = ...
    check_table(1, "setmetatable", select("#", ...), t)
    if backing[t] then
        error(READONLY, 0)
    end
    return setmetatable(t, mt)
end
local function see_through_next(t, k)
    return next(backing[t] or t, k)
end
G.next = function(...)
    local t, k = ...
    check_table(1, "next", select("#", ...), t)
    return next(backing[t] or t, k)
end
G.pairs = function(...)
    local t = ...
    check_table(1, "pairs", select("#", ...), t)
    if backing[t] then
        return see_through_next, t, nil
    end
    return pairs(t)
end
G.ipairs = function(...)
    local t = ...
    check_table(1, "ipairs", select("#", ...), t)
    local b = backing[t]
    if b then
        return function(_, i)
            i = i + 1
            local v = b[i]
            if v ~= nil then
                return i, v
            end
        end, t, 0
    end
    return ipairs(t)
end

-- Globals no script may see (redis deny list and anything outside its allow lists).
-- (Debian's redis-server 7.0.15 has no getfenv, setfenv or newproxy either.)
for _, name in ipairs({ "print", "dofile", "loadfile", "module", "require", "package", "os", "io", "debug", "getfenv", "setfenv", "newproxy" }) do
    rawset(G, name, nil)
end

-- Tables created by scripts at run time must not be frozen: only what exists now.
local proxy_G = protect(G)
rawset(G, "_G", proxy_G)
-- Rust code that walks tables (cjson, cmsgpack) sees through proxies with this.
rust.backing = backing
-- The string metatable reads through the frozen string library.
getmetatable("").__index = rawget(G, "string")
return proxy_G
