-- Argo CD health of a keyward SigningKey, read from its status conditions.
-- Written for argocd-cm's default: no string, math or io library, so text
-- is only joined with "..".
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function said(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return "(reason " .. tostring(c.reason) .. ")"
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for keyward to publish the key."
  return hs
end

-- A status that describes an older spec says nothing about this one,
-- unless keyward has already refused this spec on Ready.
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration or 0
local readyIsCurrent = ready.observedGeneration == nil or generation == nil or ready.observedGeneration >= generation
if generation ~= nil and observed < generation and not (ready.status == "False" and readyIsCurrent) then
  hs.status = "Progressing"
  hs.message = "Waiting for keyward to reconcile generation " .. tostring(generation) .. " (status describes generation " .. tostring(observed) .. ")."
  return hs
end

if ready.status ~= "True" then
  if ready.status == "False" then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = tostring(ready.reason) .. ": " .. said(ready)
  return hs
end

-- An issuer's rotation overlap is normal: the current key keeps signing.
hs.status = "Healthy"
hs.message = said(ready)
local rotating = condition("Rotating")
if rotating ~= nil and rotating.status == "True" then
  hs.message = hs.message .. " Rotating: " .. said(rotating)
end
return hs
