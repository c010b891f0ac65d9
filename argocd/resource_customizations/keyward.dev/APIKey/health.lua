-- Argo CD health of a keyward APIKey, read from its status conditions.
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

local function isTrue(c)
  return c ~= nil and c.status == "True"
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
  hs.message = "Waiting for keyward to issue the key."
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

if isTrue(condition("Revoked")) or ready.reason == "Revoked" or ready.reason == "ParentRevoked" or ready.reason == "ParentReplaced" or ready.reason == "RevokedByDetector" then
  hs.status = "Degraded"
  hs.message = "Revoked: " .. said(ready) .. " A revocation cannot be undone: create a new APIKey to replace this one."
  return hs
end

if ready.reason == "Expired" then
  hs.status = "Degraded"
  hs.message = "Expired: " .. said(ready) .. " Move spec.expiration later or create a new APIKey."
  return hs
end

if ready.status == "False" and (ready.reason == "Suspended" or ready.reason == "ParentSuspended") then
  hs.status = "Suspended"
  hs.message = "Suspended: " .. said(ready)
  return hs
end

-- The message names the detector and the annotation that lifts it.
if ready.status == "False" and ready.reason == "SuspendedByDetector" then
  hs.status = "Suspended"
  hs.message = "Suspended by an anomaly detector: " .. said(ready)
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

-- A finding that only alerts leaves the key working, but a person must
-- look at it (the key may be in someone else's hands): Degraded is the
-- status Argo CD shows and notifies on. Healthy would hide it, Progressing
-- would promise it resolves itself, Suspended would say the key is off.
-- Unless anyone who knows the key ID could have caused the finding
-- (status.anomaly.notActionable): Degraded would then be a stranger's to
-- set on any key, so the key is judged as if it had none, and the alert
-- is added to the message of a Healthy key.
local anomalous = condition("Anomalous")
local strangersAlert = nil
if isTrue(anomalous) then
  local anomaly = obj.status.anomaly
  if anomaly ~= nil and anomaly.notActionable == true then
    strangersAlert = "Anomalous (" .. tostring(anomalous.reason) .. "): " .. said(anomalous)
  else
    hs.status = "Degraded"
    hs.message = "Anomalous (" .. tostring(anomalous.reason) .. "): " .. said(anomalous)
    return hs
  end
end

local violation = condition("PolicyViolation")
if isTrue(violation) then
  hs.status = "Degraded"
  hs.message = "Policy violated: " .. said(violation) .. " Change the key, or the KeyPolicy, until they agree."
  return hs
end

-- Absent when the manager does not deploy the verifier: then it cannot tell.
local verifier = condition("VerifierAvailable")
if verifier ~= nil and verifier.status == "False" then
  hs.status = "Degraded"
  hs.message = "Verifier unavailable: " .. said(verifier)
  return hs
end

-- A rotation's grace period and a near expiry are normal for a key in
-- use: it keeps working, so it stays Healthy and says what is coming.
hs.status = "Healthy"
hs.message = said(ready)
local rotating = condition("Rotating")
if isTrue(rotating) then
  hs.message = hs.message .. " Rotating: " .. said(rotating)
end
local expiring = condition("Expiring")
if isTrue(expiring) then
  hs.message = hs.message .. " " .. said(expiring)
end
if strangersAlert ~= nil then
  hs.message = hs.message .. " " .. strangersAlert
end
return hs
