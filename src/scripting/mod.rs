//! Lua scripting, as redis `eval.c`, `script.c` and `script_lua.c`: one Lua 5.1 state for the
//! whole server, the script cache, and the bridge between Lua values and replies.

pub mod libs;
