-- TakeAll for verifier replicas sharing one Redis. One call of this script
-- is atomic: it brings every bucket of a request to now, checks all of them,
-- and spends on all of them only when every one has room, so no replica
-- ever sees a request half spent.
--
-- The rules are those of advance, available and consume in strategy.go,
-- step for step. Lua has only doubles, and times in nanoseconds, fractions
-- of a token and their products do not fit in 53 bits, so every such value
-- travels as a decimal string and is computed on exactly as a list of
-- base-10^7 digits. Counts are doubles: MaxLimit keeps them exact.
--
-- KEYS[i]  one bucket (the caller merged requests on the same bucket)
-- ARGV[1]  now, Unix nanoseconds
-- ARGV[2]  milliseconds a bucket outlives its state (clock differences)
-- ARGV[3 + 8*(i-1) ..] for bucket i:
--   kind    F fixed window, Q quota, T token bucket, S sliding window
--   cost    the total cost of the call's requests on the bucket
--   cap     what the bucket holds: Burst or Limit
--   period  nanoseconds (Q: unused)
--   a, b    F: the window holding now, and unused
--           Q: the calendar period holding now [a, b)
--           T: the Limit, and unused
--           S: now's slot number, and the slot holding now-Period
--              ("-" before the epoch's first Period)
--   slot    S: a slot's length in nanoseconds
--   limit   S: the Limit
--
-- A bucket is a hash: s start, e end, c count, f fraction of a token
-- missing, r the sliding window's slots as 32 comma-separated counts; a
-- missing field is zero, and a missing bucket is a new one.
--
-- Returns '1' when the call spent, '0' when it did not, then for each bucket
-- its fields s, e, c, f, r as read, before this call, for the caller to
-- describe the bucket with the same Go code the in-memory store uses.

local BASE = 10000000
local SLOTS = 32

local function norm(a)
  while #a > 1 and a[#a] == 0 do a[#a] = nil end
  if #a == 0 then a[1] = 0 end
  return a
end

local function big(s)
  local a = {}
  local i = #s
  while i > 0 do
    local j = math.max(1, i - 6)
    a[#a + 1] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  return norm(a)
end

local function bignum(n)
  local a = {}
  repeat
    local q = math.floor(n / BASE)
    a[#a + 1] = n - q * BASE
    n = q
  until n == 0
  return a
end

local function str(a)
  local parts = {string.format('%d', a[#a])}
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', a[i]) end
  return table.concat(parts)
end

-- tonum is exact below 2^53 and close above, which is all the expiry needs.
local function tonum(a)
  local n = 0
  for i = #a, 1, -1 do n = n * BASE + a[i] end
  return n
end

local function cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end

local function add(a, b)
  local r, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local v = (a[i] or 0) + (b[i] or 0) + carry
    if v >= BASE then r[i], carry = v - BASE, 1 else r[i], carry = v, 0 end
  end
  if carry > 0 then r[#r + 1] = carry end
  return r
end

-- sub is a - b for a >= b.
local function sub(a, b)
  local r, borrow = {}, 0
  for i = 1, #a do
    local v = a[i] - (b[i] or 0) - borrow
    if v < 0 then r[i], borrow = v + BASE, 1 else r[i], borrow = v, 0 end
  end
  return norm(r)
end

local function mul(a, b)
  local r = {}
  for i = 1, #a + #b do r[i] = 0 end
  for i = 1, #a do
    local carry = 0
    for j = 1, #b do
      local v = r[i + j - 1] + a[i] * b[j] + carry
      carry = math.floor(v / BASE)
      r[i + j - 1] = v - carry * BASE
    end
    local k = i + #b
    while carry > 0 do
      local v = r[k] + carry
      carry = math.floor(v / BASE)
      r[k] = v - carry * BASE
      k = k + 1
    end
  end
  return norm(r)
end

-- divmod is a ÷ d for a quotient known to be below 2^53: a close guess
-- from doubles, made low enough to be safe, then corrected exactly.
local function divmod(a, d)
  local q = math.max(0, math.floor(tonum(a) / tonum(d)) - 4)
  local r = sub(a, mul(bignum(q), d))
  while cmp(r, d) >= 0 do
    r = sub(r, d)
    q = q + 1
  end
  return q, r
end

local ZERO = {0}
local now = big(ARGV[1])
local slack = tonumber(ARGV[2])

local buckets = {}
local all = true
local out = {'0'}

for i, key in ipairs(KEYS) do
  local at = 3 + 8 * (i - 1)
  local kind = ARGV[at]
  local cost = tonumber(ARGV[at + 1])
  local cap = tonumber(ARGV[at + 2])
  local period = big(ARGV[at + 3])
  local a, b = ARGV[at + 4], ARGV[at + 5]

  local v = redis.call('HMGET', key, 's', 'e', 'c', 'f', 'r')
  for j = 1, 5 do out[#out + 1] = v[j] or '' end
  local st = {s = big(v[1] or '0'), e = big(v[2] or '0'), c = tonumber(v[3] or '0'), f = big(v[4] or '0')}
  local ring = {}
  for j = 0, SLOTS - 1 do ring[j] = 0 end
  if v[5] then
    local j = 0
    for n in string.gmatch(v[5], '[^,]+') do
      ring[j] = tonumber(n)
      j = j + 1
    end
  end

  local avail
  local slot, limit, lowest
  if kind == 'F' then
    local w = big(a)
    if cmp(w, st.s) > 0 then st.s, st.c = w, 0 end
    avail = cap - st.c
  elseif kind == 'Q' then
    if cmp(st.e, ZERO) == 0 or cmp(now, st.e) >= 0 then
      st.s, st.e, st.c = big(a), big(b), 0
    end
    avail = cap - st.c
  elseif kind == 'T' then
    if cmp(now, st.s) > 0 then
      local dt = sub(now, st.s)
      st.s = now
      if st.c <= 0 then
        st.c, st.f = 0, ZERO
      else
        -- In 1/Period of a token: what is missing, and what dt refills.
        local need = sub(mul(bignum(st.c), period), st.f)
        local refill = mul(dt, big(a))
        if cmp(refill, need) >= 0 then
          st.c, st.f = 0, ZERO
        else
          local whole, rem = divmod(refill, period)
          local frac = add(st.f, rem)
          if cmp(frac, period) >= 0 then
            frac = sub(frac, period)
            whole = whole + 1
          end
          st.c, st.f = st.c - whole, frac
        end
      end
    end
    avail = cap - st.c
  else -- 'S'
    local k = big(a)
    slot = big(ARGV[at + 6])
    limit = tonumber(ARGV[at + 7])
    if cmp(k, st.s) > 0 then
      local gap = sub(k, st.s)
      if cmp(gap, bignum(SLOTS)) >= 0 then
        for j = 0, SLOTS - 1 do ring[j] = 0 end
      else
        -- 10^7 is a multiple of 32: the lowest digit gives the slot.
        local from = st.s[1] % SLOTS
        for j = 1, tonum(gap) do ring[(from + j) % SLOTS] = 0 end
      end
      st.s = k
    end
    -- How many slots before the newest still count: at most 31, none
    -- before slot 0, none that ended before now-Period.
    lowest = math.min(SLOTS - 1, tonum(st.s))
    if b ~= '-' then
      local tb = big(b)
      if cmp(tb, st.s) > 0 then
        lowest = -1
      else
        lowest = math.min(lowest, tonum(sub(st.s, tb)))
      end
    end
    local used = 0
    local newest = st.s[1] % SLOTS
    for j = 0, lowest do used = used + ring[(newest - j) % SLOTS] end
    avail = limit - used
  end

  if cost > avail then all = false end
  buckets[i] = {key = key, kind = kind, cost = cost, st = st, ring = ring, period = period,
                exists = v[1] or v[2] or v[3] or v[4] or v[5],
                a = a, slot = slot, lowest = lowest}
end

if all then out[1] = '1' end

-- until returns nanoseconds from now to when the bucket holds nothing
-- (fullAt in strategy.go), or 0 when it holds nothing already.
local function until_(bk)
  local st = bk.st
  local t
  if bk.kind == 'F' then
    if st.c > 0 then t = add(st.s, bk.period) end
  elseif bk.kind == 'Q' then
    if st.c > 0 then t = st.e end
  elseif bk.kind == 'T' then
    if st.c > 0 then
      local missing = sub(mul(bignum(st.c), bk.period), st.f)
      return tonum(sub(st.s, now)) + math.ceil(tonum(missing) / tonumber(bk.a))
    end
  else
    local newest = st.s[1] % SLOTS
    for j = 0, bk.lowest do
      if bk.ring[(newest - j) % SLOTS] ~= 0 then
        t = add(mul(sub(add(st.s, {1}), bignum(j)), bk.slot), bk.period)
        break
      end
    end
  end
  if t == nil or cmp(t, now) <= 0 then return 0 end
  return tonum(sub(t, now))
end

-- Keep every bucket as the in-memory store keeps it: brought to now even
-- when the call spends nothing, since a clock that lags must then count
-- from there and not from the bucket's older time; and no new bucket for
-- a call that spends nothing on it.
for _, bk in ipairs(buckets) do
  local st = bk.st
  if all then
    if bk.kind == 'S' then
      local newest = st.s[1] % SLOTS
      bk.ring[newest] = bk.ring[newest] + bk.cost
    else
      st.c = st.c + bk.cost
    end
  end
  if bk.exists or (all and bk.cost > 0) then
    local fields = {'s', str(st.s), 'c', string.format('%d', st.c)}
    if bk.kind == 'Q' then
      fields[#fields + 1] = 'e'
      fields[#fields + 1] = str(st.e)
    elseif bk.kind == 'T' then
      fields[#fields + 1] = 'f'
      fields[#fields + 1] = str(st.f)
    elseif bk.kind == 'S' then
      local r = {}
      for j = 0, SLOTS - 1 do r[j + 1] = string.format('%d', bk.ring[j]) end
      fields[#fields + 1] = 'r'
      fields[#fields + 1] = table.concat(r, ',')
    end
    redis.call('HSET', bk.key, unpack(fields))
    -- Expire a bucket once it holds nothing, so that Redis keeps only the
    -- buckets that still count; the slack covers lagging clocks, for
    -- which an empty bucket's time still matters.
    redis.call('PEXPIRE', bk.key, math.ceil(until_(bk) / 1000000) + slack)
  end
end

return out
