package controllers

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// maxIssuerKeys is a retired key waiting for its tokens to expire, the
// current one and a new one waiting to sign.
const maxIssuerKeys = 3

// ensureIssuerKey gives a new issuer its first key, which signs at once:
// no relying party can hold a token of a key that did not exist. The
// Secret is written before the status names the kid, so a crash in
// between leaves a Secret that the next reconcile adopts.
func (r *SigningKeyReconciler) ensureIssuerKey(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	if s.key.Namespace != r.VerifierNamespace {
		s.fail(keywardv1.IssuerNamespaceReason, "Issuer keys are used only from the verifier namespace "+r.VerifierNamespace+"; create this SigningKey there.")
		return ctrl.Result{}, nil
	}
	st := &s.key.Status
	if len(st.Keys) > 0 {
		return ctrl.Result{}, nil
	}
	if sec := newestSecret(s.secrets); sec != nil {
		if rec, err := signingrecord.Decode(sec.Data[signingrecord.DataKey]); err == nil && rec.SignUntil == nil {
			st.Keys = []keywardv1.PublishedKey{{
				KID: rec.KID, Algorithm: keywardv1.SigningAlgorithm(rec.Algorithm),
				PublishedTime: metav1.Time{Time: rec.PublishAt}, ActiveTime: metav1.Time{Time: rec.SignFrom},
			}}
			st.RotationRequest = s.key.RotationRequest()
			return ctrl.Result{}, nil
		}
	}
	pk, err := r.generate(ctx, s, s.now, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.Keys = []keywardv1.PublishedKey{pk}
	// The request present at creation asks for nothing.
	st.RotationRequest = s.key.RotationRequest()
	s.event(corev1.EventTypeNormal, keywardv1.KeyGeneratedReason, "Generate",
		fmt.Sprintf("Generated %s key %s; it signs from now.", pk.Algorithm, pk.KID))
	return ctrl.Result{}, nil
}

// rotateIfDue starts a rotation when the interval has passed or a trigger
// changed: a new key is published now and signs after the publish-ahead
// time; the current key signs until then and stays published until its
// last token expired.
func (r *SigningKeyReconciler) rotateIfDue(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	st := &s.key.Status
	newest := &st.Keys[len(st.Keys)-1]
	requested := s.key.RotationRequest() != st.RotationRequest
	interval := s.key.RotationInterval()
	scheduled := interval > 0 && !s.now.Before(newest.ActiveTime.Add(interval))
	if !requested && !scheduled {
		return ctrl.Result{}, nil
	}
	// One rotation at a time: the newest key must sign before the next
	// one is published, and the list stays bounded.
	if s.now.Before(newest.ActiveTime.Time) || len(st.Keys) >= maxIssuerKeys {
		return ctrl.Result{}, nil
	}
	ahead := s.key.PublishAhead()
	activeAt := s.now.Add(ahead)
	pk, err := r.generate(ctx, s, s.now, activeAt)
	if err != nil {
		return ctrl.Result{}, err
	}
	retire := metav1.Time{Time: activeAt}
	withdraw := metav1.Time{Time: activeAt.Add(s.key.TokenLifetime() + keywardv1.WithdrawLeeway)}
	newest.RetiredTime, newest.WithdrawTime = &retire, &withdraw
	oldKID := newest.KID
	st.Keys = append(st.Keys, pk)
	st.RotationRequest = s.key.RotationRequest()
	st.LastRotationTime = &metav1.Time{Time: s.now}
	cause := "scheduled"
	if requested {
		cause = "requested"
	}
	s.event(corev1.EventTypeNormal, keywardv1.RotationStartedReason, "Rotate", fmt.Sprintf(
		"Rotation (%s): published key %s, which signs from %s; key %s signs until then and leaves the JWKS at %s.",
		cause, pk.KID, activeAt.UTC().Format(time.RFC3339), oldKID, withdraw.UTC().Format(time.RFC3339)))
	return ctrl.Result{}, nil
}

// withdrawRetired removes keys whose last token has expired, from the
// status and from the verifier namespace.
func (r *SigningKeyReconciler) withdrawRetired(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	st := &s.key.Status
	kept := st.Keys[:0:0]
	for _, k := range st.Keys {
		if k.WithdrawTime == nil || s.now.Before(k.WithdrawTime.Time) {
			kept = append(kept, k)
			continue
		}
		if err := r.deleteSigningSecret(ctx, s, k.KID); err != nil {
			return ctrl.Result{}, err
		}
		delete(s.secrets, k.KID)
		s.event(corev1.EventTypeNormal, keywardv1.KeyWithdrawnReason, "Withdraw",
			fmt.Sprintf("Key %s left the JWKS: every token it signed has expired.", k.KID))
	}
	st.Keys = kept
	return ctrl.Result{}, nil
}

// publishIssuerKeys writes each key's record with its timeline, and
// nothing when the records already say so; Secrets of keys the status no
// longer names are removed.
func (r *SigningKeyReconciler) publishIssuerKeys(ctx context.Context, s *signingKeyState) (ctrl.Result, error) {
	wanted := map[string]bool{}
	for _, k := range s.key.Status.Keys {
		wanted[k.KID] = true
		sec := s.secrets[k.KID]
		if sec == nil && s.fresh[k.KID] {
			continue // written by generate in this reconcile
		}
		if sec == nil && r.APIReader != nil {
			// The cache may not have seen a Secret written a moment ago.
			live := &corev1.Secret{}
			err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.VerifierNamespace, Name: signingrecord.SecretName(k.KID)}, live)
			switch {
			case err == nil && !boundTo(live, string(s.key.UID)):
				s.fail(keywardv1.KidInUseReason, (&kidInUseError{kid: k.KID}).Error()+"; rotate to replace it.")
				return ctrl.Result{}, nil
			case err == nil:
				sec = live
			case !apierrors.IsNotFound(err):
				return ctrl.Result{}, err
			}
		}
		if sec == nil {
			s.setCondition(keywardv1.PublishedCondition, metav1.ConditionFalse, keywardv1.PublishFailedReason,
				"The Secret of key "+k.KID+" is gone; the key cannot be published again.")
			s.fail(keywardv1.PublishFailedReason, "The Secret of key "+k.KID+" is gone; rotate to replace it.")
			return ctrl.Result{}, nil
		}
		priv, err := signingrecord.DecodePrivateKey(sec.Data[signingrecord.PrivateKeyDataKey])
		if err != nil {
			s.fail(keywardv1.PublishFailedReason, "The Secret of key "+k.KID+" is damaged: "+err.Error()+"; rotate to replace it.")
			return ctrl.Result{}, nil
		}
		if err := r.writeIssuerRecord(ctx, s, k, priv, sec); errors.As(err, new(*kidInUseError)) {
			s.fail(keywardv1.KidInUseReason, err.Error()+"; rotate to replace it.")
			return ctrl.Result{}, nil
		} else if err != nil {
			return ctrl.Result{}, err
		}
	}
	for kid, sec := range s.secrets {
		if !wanted[kid] {
			if err := r.Client.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	s.setCondition(keywardv1.PublishedCondition, metav1.ConditionTrue, keywardv1.RecordPublishedReason,
		fmt.Sprintf("%d key(s) published to the verifier.", len(s.key.Status.Keys)))
	return ctrl.Result{}, nil
}

// scheduleIssuer sets the Rotating condition and asks to be woken at the
// next instant the timeline changes.
func (r *SigningKeyReconciler) scheduleIssuer(_ context.Context, s *signingKeyState) (ctrl.Result, error) {
	st := &s.key.Status
	newest := st.Keys[len(st.Keys)-1]
	st.KID, st.Algorithm = newest.KID, newest.Algorithm
	st.NextRotationTime = nil
	if iv := s.key.RotationInterval(); iv > 0 {
		st.NextRotationTime = &metav1.Time{Time: newest.ActiveTime.Add(iv)}
	}
	var next []time.Time
	if st.NextRotationTime != nil {
		next = append(next, st.NextRotationTime.Time)
	}
	before := conditionOf(s.original.Status.Conditions, keywardv1.KeysRotatingCondition)
	switch {
	case s.now.Before(newest.ActiveTime.Time):
		next = append(next, newest.ActiveTime.Time)
		s.setCondition(keywardv1.KeysRotatingCondition, metav1.ConditionTrue, keywardv1.RotationStartedReason,
			"Key "+newest.KID+" is published and signs from "+newest.ActiveTime.UTC().Format(time.RFC3339)+".")
	case len(st.Keys) > 1:
		if before != nil && before.Reason == keywardv1.RotationStartedReason {
			s.event(corev1.EventTypeNormal, keywardv1.KeyActivatedReason, "Activate", "Key "+newest.KID+" signs new tokens from now.")
		}
		s.setCondition(keywardv1.KeysRotatingCondition, metav1.ConditionTrue, keywardv1.OverlapReason,
			"Key "+newest.KID+" signs; a retired key stays published until its last token expired.")
	default:
		if before != nil && before.Reason == keywardv1.RotationStartedReason {
			s.event(corev1.EventTypeNormal, keywardv1.KeyActivatedReason, "Activate", "Key "+newest.KID+" signs new tokens from now.")
		}
		s.setCondition(keywardv1.KeysRotatingCondition, metav1.ConditionFalse, keywardv1.SingleKeyReason, "One key is published.")
	}
	for _, k := range st.Keys {
		if k.WithdrawTime != nil {
			next = append(next, k.WithdrawTime.Time)
		}
	}
	var res ctrl.Result
	for _, t := range next {
		if d := t.Sub(s.now); d > 0 && (res.RequeueAfter == 0 || d < res.RequeueAfter) {
			res.RequeueAfter = d
		}
	}
	return res, nil
}

// generate draws a key pair and writes its Secret before anything else
// names it.
func (r *SigningKeyReconciler) generate(ctx context.Context, s *signingKeyState, publish, active time.Time) (keywardv1.PublishedKey, error) {
	alg, bits := s.key.KeyAlgorithm()
	priv, err := signingrecord.GenerateKey(string(alg), bits)
	if err != nil {
		return keywardv1.PublishedKey{}, err
	}
	kid, err := signingrecord.KID(priv.Public())
	if err != nil {
		return keywardv1.PublishedKey{}, err
	}
	pk := keywardv1.PublishedKey{KID: kid, Algorithm: alg, PublishedTime: metav1.Time{Time: publish}, ActiveTime: metav1.Time{Time: active}}
	if err := r.writeIssuerRecord(ctx, s, pk, priv, nil); err != nil {
		return keywardv1.PublishedKey{}, err
	}
	if s.fresh == nil {
		s.fresh = map[string]bool{}
	}
	s.fresh[kid] = true
	return pk, nil
}

func (r *SigningKeyReconciler) writeIssuerRecord(ctx context.Context, s *signingKeyState, k keywardv1.PublishedKey, priv crypto.Signer, existing *corev1.Secret) error {
	jwk, err := signingrecord.PublicJWKJSON(k.KID, string(k.Algorithm), priv.Public())
	if err != nil {
		return err
	}
	rec := signingrecord.Record{
		Schema: signingrecord.Schema, KID: k.KID, Mode: signingrecord.Issuer, Algorithm: string(k.Algorithm), PublicJWK: jwk,
		PublishAt: k.PublishedTime.UTC(), SignFrom: k.ActiveTime.UTC(),
		TokenLifetime: s.key.TokenLifetime(), PublishAhead: s.key.PublishAhead(),
	}
	if k.RetiredTime != nil {
		rec.SignUntil = ptrTime(k.RetiredTime.UTC())
	}
	if k.WithdrawTime != nil {
		rec.WithdrawAt = ptrTime(k.WithdrawTime.UTC())
	}
	pem, err := signingrecord.EncodePrivateKey(priv)
	if err != nil {
		return err
	}
	// Sent, or found already written: nothing keeps this copy.
	defer clear(pem)
	return r.writeSigningSecret(ctx, s, rec, pem, existing)
}

func ptrTime(t time.Time) *time.Time { return &t }

// newestSecret is the Secret written last, for adopting a key whose
// status write was lost.
func newestSecret(secrets map[string]*corev1.Secret) *corev1.Secret {
	var out *corev1.Secret
	for _, s := range secrets {
		if out == nil || out.CreationTimestamp.Before(&s.CreationTimestamp) {
			out = s
		}
	}
	return out
}

func conditionOf(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
