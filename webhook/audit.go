package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
)

// The recording webhook sees exactly what vapikey.keyward.dev lets through
// (a revocation, by its match condition) and what it never intercepts (a
// deletion), and only writes who made it to the audit trail. It fails open
// (failurePolicy Ignore) with a short timeout, so that an outage of it
// never keeps a key from being revoked or deleted: at worst the change
// goes unrecorded here, and the API server's own audit log still has it.
//
// +kubebuilder:webhook:path=/audit-keyward-dev-v1alpha1-apikey,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,timeoutSeconds=3,groups=keyward.dev,resources=apikeys,verbs=update;delete,versions=v1alpha1,name=apikey-audit.keyward.dev,admissionReviewVersions=v1,patch=`{"matchConditions":[{"name":"what-vapikey-lets-through","expression":"request.operation == 'DELETE' || (has(object.spec.revoked) && object.spec.revoked)"}]}`

// AuditPath is where the recording webhook is served.
const AuditPath = "/audit-keyward-dev-v1alpha1-apikey"

// Recorder writes the audit line of every change it is asked about and
// admits it, whatever it is: it never refuses.
type Recorder struct {
	Audit audit.Sink
	// Clock dates the audit lines.
	Clock clock.PassiveClock
}

var _ admission.Handler = &Recorder{}

// Handle records req unless it is a dry run, and allows it.
func (r *Recorder) Handle(_ context.Context, req admission.Request) admission.Response {
	if e, ok := admissionLine(req, r.Clock.Now()); ok {
		r.Audit.Record(e)
	}
	return admission.Allowed("")
}

// admissionLine is the audit line of an admitted change to an APIKey: the
// user the API server authenticated (never a name the client chose), the
// admission request's UID, the APIKey's UID and generation (what the
// manager's lifecycle line carries, to be joined with this one), and the
// lifecycle changes the request makes. A dry run (kubectl
// --dry-run=server, Argo CD's diff) changes nothing and leaves no line.
func admissionLine(req admission.Request, now time.Time) (audit.Event, bool) {
	if req.DryRun != nil && *req.DryRun {
		return audit.Event{}, false
	}
	old, key := decodeAPIKey(req.OldObject.Raw), decodeAPIKey(req.Object.Raw)
	if key == nil {
		key = old
	}
	if key == nil {
		return audit.Event{}, false
	}
	op := operationNames[req.Operation]
	return audit.Event{
		Time: now.UTC(), Action: "admitted_" + op, KeyID: key.Status.KeyID, Owner: key.Spec.Owner,
		Namespace: key.Namespace, Name: key.Name, Actor: req.UserInfo.Username,
		UID: string(key.UID), Generation: key.Generation, Admission: string(req.UID),
		Changes: lifecycleChanges(req.Operation, old, key),
		Reason:  fmt.Sprintf("%s admitted (admission request %s)", op, req.UID),
	}, true
}

var operationNames = map[admissionv1.Operation]string{
	admissionv1.Create: "create", admissionv1.Update: "update", admissionv1.Delete: "delete", admissionv1.Connect: "connect",
}

// decodeAPIKey reads an APIKey from an admission request; nil if there is
// none (the new object of a deletion, the old one of a creation).
func decodeAPIKey(raw []byte) *keywardv1.APIKey {
	if len(raw) == 0 {
		return nil
	}
	k := &keywardv1.APIKey{}
	if err := json.Unmarshal(raw, k); err != nil {
		return nil
	}
	return k
}

// lifecycleChanges are what a request does to a key's lifecycle, in the
// words of the manager's lifecycle lines.
func lifecycleChanges(op admissionv1.Operation, old, key *keywardv1.APIKey) []string {
	switch op {
	case admissionv1.Create:
		return []string{audit.Created}
	case admissionv1.Delete:
		// A second deletion of a key already being deleted changes nothing.
		if old != nil && old.DeletionTimestamp.IsZero() {
			return []string{audit.Deleted}
		}
		return nil
	case admissionv1.Update:
	default:
		return nil
	}
	if old == nil {
		return nil
	}
	var changes []string
	switch {
	case key.Spec.Revoked && !old.Spec.Revoked:
		changes = append(changes, audit.Revoked)
	case key.Spec.Suspended && !old.Spec.Suspended:
		changes = append(changes, audit.Suspended)
	case !key.Spec.Suspended && old.Spec.Suspended && !key.Spec.Revoked:
		changes = append(changes, audit.Resumed)
	}
	oldTrigger, oldAnnotation := old.RotationRequest()
	trigger, annotation := key.RotationRequest()
	if (trigger != oldTrigger && trigger != "") || (annotation != oldAnnotation && annotation != "") {
		changes = append(changes, audit.RotationRequested)
	}
	// Who acknowledged a finding is on this line: the manager's
	// anomaly_acknowledged line cannot be joined to it by generation, which
	// an annotation does not change.
	if ack := key.Annotations[keywardv1.AcknowledgeAnomalyAnnotation]; ack != "" && ack != old.Annotations[keywardv1.AcknowledgeAnomalyAnnotation] {
		changes = append(changes, audit.AnomalyAcknowledged)
	}
	return changes
}
