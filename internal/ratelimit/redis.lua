-- TakeAll for verifier replicas sharing one Redis. One call of this script
-- is atomic: it brings every bucket of a request to now, checks all of them,
-- and spends on all of them only when every one has room, so no replica
-- ever sees a request half spent.
--
-- The rules are those of advance, available and consume in strategy.go,
-- step for step, and exact. Lua has only doubles: times in nanoseconds and
-- slot numbers travel as decimal strings and are split into seconds and
-- nanoseconds; counts are doubles, which MaxLimit keeps exact. A token
-- bucket works in doubles while its products stay below 2^53 (periods up
-- to weeks, fills up to about 10^6 tokens a second), and on exact big
-- numbers beyond.
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
--   into    S: nanoseconds from now's slot's start to now
--
-- A bucket is a hash: s start, e end, c count, f fraction of a token
-- missing, r the sliding window's slots as 32 comma-separated counts; a
-- missing field is zero, and a missing bucket is a new one.
--
-- Returns '1' when the call spent, '0' when it did not, then for each bucket
-- its fields s, e, c, f, r as read, before this call, for the caller to
-- describe the bucket with the same Go code the in-memory store uses.

local E9 = 1000000000
local SLOTS = 32
local EXACT = 9007199254740992 -- 2^53

-- pair splits a time or slot number into two exact doubles, hi·10^9 + lo.
-- 10^9 is a multiple of 32, so lo alone gives a slot's place in the ring.
local function pair(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end

local function pstr(hi, lo)
  if hi == 0 then return string.format('%d', lo) end
  return string.format('%d%09d', hi, lo)
end

local function pless(ah, al, bh, bl)
  return ah < bh or (ah == bh and al < bl)
end

-- pdiff is exact below 2^53.
local function pdiff(ah, al, bh, bl)
  return (ah - bh) * E9 + (al - bl)
end

-- Big numbers, for token buckets whose products outgrow a double: lists
-- of base-10^7 digits, lowest first, so that digit products stay exact.
local BASE = 10000000

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

-- tonum is exact below 2^53 and close above.
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

-- refill is advance for a token bucket that misses c tokens and the
-- fraction f (a decimal string, in 1/Period of a token) and gained dt
-- nanoseconds; it returns the new c and f.
local function refill(c, f, dt, dts, p, ps, lim)
  if p < EXACT / 2 and c * p < EXACT then
    -- Every value below is an integer under 2^53, or, for dt·lim, at
    -- least 2^53 only when it covers need anyway.
    local fn = tonumber(f)
    local need = c * p - fn
    local got = dt * lim
    if got >= need then return 0, '0' end
    local whole = math.floor(got / p)
    local rem = got - whole * p
    while rem < 0 do whole, rem = whole - 1, rem + p end
    while rem >= p do whole, rem = whole + 1, rem - p end
    local frac = fn + rem
    if frac >= p then frac, whole = frac - p, whole + 1 end
    return c - whole, string.format('%d', frac)
  end
  local bp = big(ps)
  local bf = big(f)
  local need = sub(mul(bignum(c), bp), bf)
  local got = mul(dts(), bignum(lim))
  if cmp(got, need) >= 0 then return 0, '0' end
  local whole, rem = divmod(got, bp)
  local frac = add(bf, rem)
  if cmp(frac, bp) >= 0 then
    frac = sub(frac, bp)
    whole = whole + 1
  end
  return c - whole, str(frac)
end

local nows = ARGV[1]
local nh, nl = pair(nows)
local slack = tonumber(ARGV[2])

local buckets = {}
local all = true
local out = {'0'}

for i, key in ipairs(KEYS) do
  local at = 3 + 8 * (i - 1)
  local kind = ARGV[at]
  local cost = tonumber(ARGV[at + 1])
  local cap = tonumber(ARGV[at + 2])
  local a, b = ARGV[at + 4], ARGV[at + 5]

  local v = redis.call('HMGET', key, 's', 'e', 'c', 'f', 'r')
  for j = 1, 5 do out[#out + 1] = v[j] or '' end
  local bk = {key = key, kind = kind, cost = cost, exists = v[1] or v[2] or v[3] or v[4] or v[5]}
  local sh, sl = pair(v[1] or '0')
  local c = tonumber(v[3] or '0')
  local avail

  if kind == 'F' then
    local wh, wl = pair(a)
    if pless(sh, sl, wh, wl) then sh, sl, c = wh, wl, 0 end
    bk.period = tonumber(ARGV[at + 3])
    avail = cap - c
  elseif kind == 'Q' then
    local eh, el = pair(v[2] or '0')
    if (eh == 0 and el == 0) or not pless(nh, nl, eh, el) then
      sh, sl = pair(a)
      eh, el = pair(b)
      c = 0
    end
    bk.eh, bk.el = eh, el
    avail = cap - c
  elseif kind == 'T' then
    local f = v[4] or '0'
    local ps = ARGV[at + 3]
    local p, lim = tonumber(ps), tonumber(a)
    if pless(sh, sl, nh, nl) then
      local old = v[1] or '0'
      local dt = pdiff(nh, nl, sh, sl)
      sh, sl = nh, nl
      if c <= 0 then
        c, f = 0, '0'
      else
        c, f = refill(c, f, dt, function() return sub(big(nows), big(old)) end, p, ps, lim)
      end
    end
    bk.f, bk.p, bk.lim = f, p, lim
    avail = cap - c
  else -- 'S'
    local ring = {}
    if v[5] then
      local j = 0
      for n in string.gmatch(v[5], '[^,]+') do
        ring[j] = tonumber(n)
        j = j + 1
      end
    else
      for j = 0, SLOTS - 1 do ring[j] = 0 end
    end
    local kh, kl = pair(a)
    if pless(sh, sl, kh, kl) then
      local gap = pdiff(kh, kl, sh, sl)
      if gap >= SLOTS then
        for j = 0, SLOTS - 1 do ring[j] = 0 end
      else
        for j = 1, gap do ring[(sl + j) % SLOTS] = 0 end
      end
      sh, sl = kh, kl
    end
    -- How many slots before the newest still count: at most 31, none
    -- before slot 0, none that ended before now-Period.
    local lowest = SLOTS - 1
    if sh == 0 then lowest = math.min(lowest, sl) end
    if b ~= '-' then
      local th, tl = pair(b)
      if pless(sh, sl, th, tl) then
        lowest = -1
      else
        lowest = math.min(lowest, pdiff(sh, sl, th, tl))
      end
    end
    local used = 0
    for j = 0, lowest do used = used + ring[(sl - j) % SLOTS] end
    avail = cap - used
    bk.ring, bk.lowest = ring, lowest
    -- Where the newest slot ends, from now, for the expiry.
    bk.ahead = pdiff(sh, sl, kh, kl)
    bk.slot, bk.into, bk.period = tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]), tonumber(ARGV[at + 3])
  end

  bk.sh, bk.sl, bk.c = sh, sl, c
  if cost > avail then all = false end
  buckets[i] = bk
end

if all then out[1] = '1' end

-- until is how many nanoseconds from now the bucket holds nothing any
-- more (fullAt in strategy.go), 0 if it holds nothing. Only the expiry
-- uses it, and that has slack: doubles are close enough.
local function until_(bk)
  if bk.kind == 'F' then
    if bk.c > 0 then return pdiff(bk.sh, bk.sl, nh, nl) + bk.period end
  elseif bk.kind == 'Q' then
    if bk.c > 0 then return pdiff(bk.eh, bk.el, nh, nl) end
  elseif bk.kind == 'T' then
    if bk.c > 0 then
      return pdiff(bk.sh, bk.sl, nh, nl) + math.ceil((bk.c * bk.p - tonumber(bk.f)) / bk.lim)
    end
  else
    for j = 0, bk.lowest do
      if bk.ring[(bk.sl - j) % SLOTS] ~= 0 then
        return (bk.ahead - j + 1) * bk.slot - bk.into + bk.period
      end
    end
  end
  return 0
end

-- Keep every bucket as the in-memory store keeps it: brought to now even
-- when the call spends nothing, since a clock that lags must then count
-- from there and not from the bucket's older time; and no new bucket for
-- a call that spends nothing on it.
for _, bk in ipairs(buckets) do
  if all then
    if bk.kind == 'S' then
      local newest = bk.sl % SLOTS
      bk.ring[newest] = bk.ring[newest] + bk.cost
    else
      bk.c = bk.c + bk.cost
    end
  end
  if bk.exists or (all and bk.cost > 0) then
    local fields = {'s', pstr(bk.sh, bk.sl)}
    if bk.kind == 'S' then
      local r = {}
      for j = 0, SLOTS - 1 do r[j + 1] = string.format('%d', bk.ring[j]) end
      fields[3], fields[4] = 'r', table.concat(r, ',')
    else
      fields[3], fields[4] = 'c', string.format('%d', bk.c)
      if bk.kind == 'Q' then
        fields[5], fields[6] = 'e', pstr(bk.eh, bk.el)
      elseif bk.kind == 'T' then
        fields[5], fields[6] = 'f', bk.f
      end
    end
    redis.call('HSET', bk.key, unpack(fields))
    -- Expire a bucket once it holds nothing, so that Redis keeps only the
    -- buckets that still count; the slack covers lagging clocks, for
    -- which an empty bucket's time still matters.
    redis.call('PEXPIRE', bk.key, math.max(0, math.ceil(until_(bk) / 1000000)) + slack)
  end
end

return out
