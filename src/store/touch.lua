-- sessiongate: read a managed session and slide its TTL, atomically.
-- Mirrors rules::session_target (src/store/rules.rs): keep them in step.
-- The arguments are built in one place, scripts::touch (src/store/scripts.rs).
--
-- KEYS[1] the session hash
-- ARGV[1] now, Unix ms (gateway clock)
-- ARGV[2] extend: "1" or "0"
-- ARGV[3] min_step, ms
-- ARGV[4] max_idle, ms; "-1" = none
--
-- Returns nil when the key is missing or expired (nothing is resurrected),
-- else {user, started, idle, deadline, browser, touched, ttl_before,
-- ttl_after, extended} with the fields as stored before this call: user a
-- string (nil when absent), the rest integers, -1 where a field is missing
-- or malformed (browser: 1, 0, or -1).
--
-- The TTL without a PTTL call, when the record can say it: each redis.call
-- costs Redis about 2 us on top of the command itself, and this runs on
-- every protected request. Every write of a session (create, and the
-- slide below) stores `expires` (gateway clock, Unix ms) beside the TTL it
-- sets, and for sessions the gateway writes that is min(touched + idle,
-- deadline). A record whose `expires` is not that value (written by an
-- older gateway, which slides without updating it, or created with some
-- other TTL) has its TTL read with PTTL, as before.
local f = redis.call('HMGET', KEYS[1], 'user', 'started', 'idle', 'deadline', 'browser', 'touched', 'expires')
if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[6] or f[7]) then
  return false
end
local now = tonumber(ARGV[1])
local idle = tonumber(f[3])
local touched = tonumber(f[6])
local deadline = tonumber(f[4]) or 0
local expires = tonumber(f[7])
local ttl
if expires and idle and touched
    and expires == ((deadline > 0 and deadline < touched + idle) and deadline or touched + idle) then
  -- Past it by the gateway's clock: expired, even if Redis has not
  -- removed the key yet (its clock started the TTL a few ms later).
  if expires <= now then
    return false
  end
  ttl = math.min(expires - now, idle)
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl == -2 then
    return false
  end
end
local after = ttl
local extended = 0
-- ttl == -1 (no expiry) is not a session the gateway wrote: left alone and
-- reported as corrupt by the caller.
if ttl >= 0 and ARGV[2] == '1' then
  local max_idle = tonumber(ARGV[4])
  if idle and touched and not (max_idle >= 0 and now - touched > max_idle) then
    local target = idle
    if deadline > 0 and deadline - now < target then
      target = deadline - now
    end
    -- min_step is at most half the session's own idle timeout, so a short
    -- max-age still slides under a long touch_interval.
    local step = math.min(tonumber(ARGV[3]), math.floor(idle / 2))
    -- Within idle of the cap the TTL cannot grow, but activity is still
    -- recorded (at most step apart) for the routes' stricter idle limits,
    -- the TTL set to what is left until the cap.
    local record_only = target < idle and target > 0 and now - touched >= step
    if (target > ttl and target - ttl >= step) or record_only then
      redis.call('PEXPIRE', KEYS[1], target)
      redis.call('HSET', KEYS[1], 'touched', ARGV[1], 'expires', now + target)
      after = target
      extended = 1
    end
  end
end
-- Numbers go back as integers (-1 for a missing or non-numeric field), so
-- the gateway decodes one string, the user, and no other allocation.
local browser = -1
if f[5] == '1' then browser = 1 elseif f[5] == '0' then browser = 0 end
return {f[1], tonumber(f[2]) or -1, idle or -1, tonumber(f[4]) or -1,
  browser, touched or -1, ttl, after, extended}
