-- GCRA for one bucket: takes up to ARGV[3] requests at once (a lease, see
-- lease.go; 1 for a single request). KEYS[1] holds the bucket's theoretical
-- arrival time (TAT) in microseconds of the Redis clock.
-- ARGV[1]: emission interval (µs per request)
-- ARGV[2]: burst capacity in time (interval * burst, µs)
-- ARGV[3]: requests wanted (at least 1)
-- Returns {requests taken (0 when refused), remaining, reset µs, retry-after µs}.

-- Redis < 5 needs this before writing after TIME; later versions ignore it.
if redis.replicate_commands then redis.replicate_commands() end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end

-- A request fits while its new TAT stays within capacity of now.
local fit = math.floor((now + capacity - tat) / interval)
local taken = math.min(want, fit)
if taken < 1 then
  return {0, 0, tat - now, tat + interval - capacity - now}
end

local new_tat = tat + taken * interval
local slack = now - (new_tat - capacity)
-- The key lives exactly until the bucket is full again: an absent key means
-- a full bucket, so idle tenants leave nothing behind.
local ttl = new_tat - now
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
  'PX', string.format('%.0f', math.ceil(ttl / 1000)))
return {taken, math.floor(slack / interval), ttl, 0}
