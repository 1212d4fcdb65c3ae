-- sessiongate: slide the TTL of a key the application owns (external mode).
-- The rule of SessionStore::touch_foreign (src/store.rs).
-- Never reads or rewrites the value, so it works for any key type.
-- The arguments are built in one place, scripts::touch_foreign
-- (src/store/scripts.rs); ARGV[2..4] are the same limits as touch.lua's.
--
-- KEYS[1] the application's key
-- ARGV[1] idle, ms
-- ARGV[2] extend: "1" or "0"
-- ARGV[3] min_step, ms
-- ARGV[4] max_idle, ms; "-1" = none: a key idle longer (idle minus its TTL)
--         is not extended (a route's stricter limit refuses the request)
--
-- Returns nil when the key is missing, else {ttl_before, ttl_after, extended}
-- where a TTL of -1 means the key has no expiry (and is left alone).
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return false
end
local after = ttl
local extended = 0
if ttl >= 0 and ARGV[2] == '1' then
  local idle = tonumber(ARGV[1])
  local max_idle = tonumber(ARGV[4])
  local too_idle = max_idle >= 0 and idle - ttl > max_idle
  if not too_idle and idle > ttl and idle - ttl >= tonumber(ARGV[3]) then
    redis.call('PEXPIRE', KEYS[1], idle)
    after = idle
    extended = 1
  end
end
return {ttl, after, extended}
