-- The environment of function libraries (redis function_lua.c), run once on the functions'
-- own Lua state after sandbox.lua.
--
-- Library code runs with one shared, read-only globals table whose reads go, while FUNCTION
-- LOAD runs the library's code, to a small API (redis.register_function, redis.log, the
-- version) and at any other time to the sandbox's globals, so the registered callbacks see
-- everything when FCALL runs them.
--
-- Arguments: the sandbox's globals proxy, the real `redis` table. Returns the library
-- globals, its metatable (Rust swaps `__index`), and the real table behind the load-time
-- `redis` (Rust sets `register_function` there during a load).

local globals, redis = ...

local function refuse()
    error("Attempt to modify a readonly table", 2)
end

-- A read-only view of `t` that fails on names it does not have.
local function strict_view(t)
    return setmetatable({}, {
        __index = function(_, k)
            local v = t[k]
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = refuse,
        __metatable = false,
    })
end

local load_redis = {
    log = redis.log,
    LOG_DEBUG = redis.LOG_DEBUG,
    LOG_VERBOSE = redis.LOG_VERBOSE,
    LOG_NOTICE = redis.LOG_NOTICE,
    LOG_WARNING = redis.LOG_WARNING,
    REDIS_VERSION = redis.REDIS_VERSION,
    REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_api = strict_view({ redis = strict_view(load_redis) })

local meta = { __index = globals, __newindex = refuse, __metatable = false }
local library_globals = setmetatable({}, meta)
return library_globals, meta, load_redis, load_api
