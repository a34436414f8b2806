-- Counts one login attempt on one throttle key, unless the key is locked.
-- KEYS[1]: failure counter, KEYS[2]: lock marker (same hash slot).
-- ARGV: free failures, base delay ms, max delay ms, window ms,
--       fixed ("1": a budget per fixed window, refused until it ends;
--              "0": a back-off that doubles after each further failure).
-- Returns {1, failures} when the attempt is counted and may go ahead,
-- {0, ms to wait} when it is refused (and not counted).
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then
  return {0, wait}
end

local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local window = tonumber(ARGV[4])

local failures = redis.call('INCR', KEYS[1])
if ARGV[5] == '1' then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    redis.call('PEXPIRE', KEYS[1], window)
    left = window
  end
  if failures > free then
    redis.call('DECR', KEYS[1])
    redis.call('SET', KEYS[2], failures, 'PX', left)
    return {0, left}
  end
  return {1, failures}
end

local delay = 0
if failures > free then
  delay = base * 2 ^ math.min(failures - free - 1, 40)
  if delay > max_delay then delay = max_delay end
  redis.call('SET', KEYS[2], failures, 'PX', string.format('%.0f', delay))
end
-- The count outlives its lockout, and is forgotten after a quiet window.
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.max(window, delay)))
return {1, failures}
