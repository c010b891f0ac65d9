package redteam

import (
	"context"
	"fmt"
	"os"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// managerUser is the manager's ServiceAccount as config/default names it.
// The suite's manager runs as that user, with exactly the RBAC config/rbac
// grants it, so that a permission the manager lacks fails here and not
// first in a cluster.
const managerUser = "system:serviceaccount:" + managerNamespace + ":keyward-controller-manager"

// installManagerRBAC creates the roles of config/rbac/role.yaml (generated
// from the +kubebuilder:rbac markers) where config/default puts them: the
// ClusterRole, the Role of namespace "system" in the manager's namespace
// and the Role of namespace "verifier" in the verifier's, each bound to
// managerUser.
func installManagerRBAC(ctx context.Context) error {
	raw, err := os.ReadFile(testutil.RepoPath("config", "rbac", "role.yaml"))
	if err != nil {
		return err
	}
	where := map[string]string{"system": managerNamespace, "verifier": verifierNamespace}
	subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: managerUser}}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj struct {
			Kind     string              `json:"kind"`
			Metadata metav1.ObjectMeta   `json:"metadata"`
			Rules    []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return fmt.Errorf("config/rbac/role.yaml: %w", err)
		}
		name := "keyward-" + obj.Metadata.Name
		switch obj.Kind {
		case "ClusterRole":
			if err := admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: obj.Rules}); err != nil {
				return err
			}
			if err := admin.Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
				Subjects:   subjects,
			}); err != nil {
				return err
			}
		case "Role":
			ns, ok := where[obj.Metadata.Namespace]
			if !ok {
				return fmt.Errorf("config/rbac/role.yaml: a Role of namespace %q, which config/default does not place", obj.Metadata.Namespace)
			}
			meta := metav1.ObjectMeta{Namespace: ns, Name: name}
			if err := admin.Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: obj.Rules}); err != nil {
				return err
			}
			if err := admin.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: meta,
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   subjects,
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
