-- sessiongate: read a managed session and slide its TTL, atomically.
-- Mirrors rules::session_target (src/store/rules.rs): keep them in step.
--
-- KEYS[1] the session hash
-- ARGV[1] now, Unix ms (gateway clock)
-- ARGV[2] extend: "1" or "0"
-- ARGV[3] min_step, ms
-- ARGV[4] max_idle, ms; "-1" = none
--
-- Returns nil when the key is missing or expired (nothing is resurrected),
-- else {user, started, idle, deadline, browser, touched, ttl_before,
-- ttl_after, extended} with the fields as stored before this call.
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return false
end
local f = redis.call('HMGET', KEYS[1], 'user', 'started', 'idle', 'deadline', 'browser', 'touched')
local after = ttl
local extended = 0
-- ttl == -1 (no expiry) is not a session the gateway wrote: left alone and
-- reported as corrupt by the caller.
if ttl >= 0 and ARGV[2] == '1' then
  local now = tonumber(ARGV[1])
  local idle = tonumber(f[3])
  local touched = tonumber(f[6])
  local max_idle = tonumber(ARGV[4])
  if idle and touched and not (max_idle >= 0 and now - touched > max_idle) then
    local target = idle
    local deadline = tonumber(f[4]) or 0
    if deadline > 0 and deadline - now < target then
      target = deadline - now
    end
    if target > ttl and target - ttl >= tonumber(ARGV[3]) then
      redis.call('PEXPIRE', KEYS[1], target)
      redis.call('HSET', KEYS[1], 'touched', ARGV[1])
      after = target
      extended = 1
    end
  end
end
return {f[1], f[2], f[3], f[4], f[5], f[6], ttl, after, extended}
