package verifier

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/keyward-dev/keyward/internal/signingrecord"
)

// SigningWatch feeds SigningKeys from the signing-key Secrets of one
// namespace, with the same permissions as the record Watch: list and
// watch on Secrets there, reading only labelled ones. It is held current
// as the record Watch is (catchup.go): a stalled watch would keep a
// withdrawn key's tokens valid and its public key in the JWKS.
type SigningWatch struct {
	feed
	keys *SigningKeys
}

// NewSigningWatch prepares a SigningWatch; Run starts it.
func NewSigningWatch(client kubernetes.Interface, namespace string, keys *SigningKeys, o WatchOptions) *SigningWatch {
	w := &SigningWatch{keys: keys}
	w.init(client, namespace, signingrecord.Label, "signing-key watch", o)
	_ = w.informer.SetTransform(func(obj any) (any, error) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return obj, nil
		}
		data := map[string][]byte{signingrecord.DataKey: s.Data[signingrecord.DataKey]}
		if pk, ok := s.Data[signingrecord.PrivateKeyDataKey]; ok {
			data[signingrecord.PrivateKeyDataKey] = pk
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion},
			Data:       data,
		}, nil
	})
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.put,
		UpdateFunc: func(_, obj any) { w.put(obj) },
		DeleteFunc: w.remove,
	})
	return w
}

// Run watches until ctx ends, with a heartbeat every interval that checks
// the signing keys are current (catchup.go).
func (w *SigningWatch) Run(ctx context.Context, heartbeat time.Duration) {
	w.run(ctx, heartbeat, func() { w.log.Info("signing keys loaded", "namespace", w.ns) })
}

func (w *SigningWatch) put(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if err := w.keys.Put(s.Name, s.Data); err != nil {
		// Decoding errors name the Secret and the field, never the data.
		w.log.Error(err, "ignoring an invalid signing key; tokens it signed are refused")
	}
}

func (w *SigningWatch) remove(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok {
		w.keys.Remove(s.Name)
	}
}
