-- Argo CD health of a keyward KeyPolicy, read from its status conditions.
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
  hs.message = "Waiting for keyward to apply the policy."
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

-- Keys the policy does not allow are the keys' problem, each Degraded
-- (or Suspended) on its own; the policy itself works.
local selected = obj.status.selectedKeys or 0
local violating = obj.status.violatingKeys or 0
hs.status = "Healthy"
if selected == 0 then
  hs.message = said(ready) .. " No APIKey is in the namespaces it selects yet."
elseif violating > 0 then
  hs.message = said(ready) .. " It governs " .. tostring(selected) .. " APIKey(s); " .. tostring(violating)
    .. " of them violate it (see their PolicyViolation condition)."
else
  hs.message = said(ready) .. " It governs " .. tostring(selected) .. " APIKey(s), all compliant."
end
return hs
