package verifier

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
)

// LeakWriter hands verified leaks to the manager as ConfigMaps in the
// verifier namespace, which only keyward writes: the verifier may not
// write APIKeys, and the manager trusts nothing a tenant can write. The
// first report of a secret's leak is kept; a replay finds it there and
// changes nothing.
type LeakWriter struct {
	Client    kubernetes.Interface
	Namespace string
}

// Leaked creates the report's ConfigMap unless it exists.
func (w LeakWriter) Leaked(ctx context.Context, r leak.Report) error {
	data, err := leak.Encode(r)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: leak.Name(r.KeyID, r.Serial), Namespace: w.Namespace,
			Labels: map[string]string{leak.Label: "true", record.KeyIDLabel: r.KeyID, record.VerifierReportLabel: "true"},
		},
		Data: map[string]string{leak.DataKey: string(data)},
	}
	_, err = w.Client.CoreV1().ConfigMaps(w.Namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: UsageFieldOwner})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("writing ConfigMap %s/%s: %w", w.Namespace, cm.Name, err)
	}
	return nil
}
