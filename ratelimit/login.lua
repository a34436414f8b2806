-- Records one failed login for a throttle key.
-- KEYS[1]: failure counter, KEYS[2]: lockout marker (same hash slot).
-- ARGV: free failures, base delay ms, max delay ms, window ms.
-- Returns the failure count.
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local window = tonumber(ARGV[4])

local failures = redis.call('INCR', KEYS[1])
local delay = 0
if failures > free then
  delay = base * 2 ^ math.min(failures - free - 1, 40)
  if delay > max_delay then delay = max_delay end
  -- Never shorten a longer lockout that a concurrent failure already set.
  if delay > redis.call('PTTL', KEYS[2]) then
    redis.call('SET', KEYS[2], failures, 'PX', string.format('%.0f', delay))
  end
end
-- The count outlives its lockout, and is forgotten after a quiet window.
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(window, delay)))
return failures
