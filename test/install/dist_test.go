package install

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// TestInstallersApplyToARealAPIServer dry-runs each one-file installer as
// an operator would apply it, and checks it holds what the README promises:
// the CRDs, the manager with leader election, probes and HTTPS metrics, and
// the webhook with its certificate from keyward or from cert-manager.
func TestInstallersApplyToARealAPIServer(t *testing.T) {
	needAPIServer(t)
	for _, tc := range []struct {
		file string
		// certificateFrom is what the webhook's certificate needs: the
		// Secret keyward's rotator fills, or cert-manager's Certificate.
		certificateFrom string
		webhookCertMode string
	}{
		{file: "install.yaml", certificateFrom: "Secret", webhookCertMode: ""},
		{file: "install-cert-manager.yaml", certificateFrom: "Certificate", webhookCertMode: "--webhook-cert-mode=external"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			g := NewWithT(t)
			manifests, err := os.ReadFile(testutil.RepoPath("dist", tc.file))
			g.Expect(err).NotTo(HaveOccurred(), "run make build-installer")

			g.Expect(testutil.ServerSideDryRun(context.Background(), k8s, manifests, fieldManager)).To(Succeed())

			objs, err := testutil.DecodeManifests(manifests)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names(objs, "CustomResourceDefinition")).To(ConsistOf(
				"apikeys.keyward.dev", "signingkeys.keyward.dev", "keypolicies.keyward.dev"))
			g.Expect(names(objs, "ValidatingWebhookConfiguration")).To(ConsistOf("keyward-validating-webhook-configuration"))
			g.Expect(webhookSecretSources(objs)).To(ConsistOf(tc.certificateFrom))

			manager := deployment(g, objs, "keyward-controller-manager")
			container := manager.Spec.Template.Spec.Containers[0]
			g.Expect(container.Args).To(ContainElements("--leader-elect", "--metrics-bind-address=:8443"))
			g.Expect(container.Args).NotTo(ContainElement("--metrics-secure=false"), "metrics are served over HTTPS")
			if tc.webhookCertMode != "" {
				g.Expect(container.Args).To(ContainElement(tc.webhookCertMode))
			}
			g.Expect(boundServiceAccounts(objs)).To(ConsistOf(manager.Namespace+"/"+manager.Spec.Template.Spec.ServiceAccountName),
				"every RoleBinding and ClusterRoleBinding grants the manager's own ServiceAccount, which the file creates")
			g.Expect(names(objs, "ServiceAccount")).To(ContainElement(manager.Spec.Template.Spec.ServiceAccountName))
			g.Expect(container.LivenessProbe).NotTo(BeNil())
			g.Expect(container.ReadinessProbe).NotTo(BeNil())
		})
	}
}

// webhookSecretSources names the kinds of the objects that provide the
// webhook's serving Secret: the Secret itself, or a Certificate writing it.
func webhookSecretSources(objs []*unstructured.Unstructured) []string {
	const secret = "keyward-webhook-server-cert"
	var kinds []string
	for _, obj := range objs {
		certSecret, _, _ := unstructured.NestedString(obj.Object, "spec", "secretName")
		if (obj.GetKind() == "Secret" && obj.GetName() == secret) || (obj.GetKind() == "Certificate" && certSecret == secret) {
			kinds = append(kinds, obj.GetKind())
		}
	}
	return kinds
}

// boundServiceAccounts lists, without repeats, the ServiceAccounts that
// the file's bindings grant something to. A binding naming an account the
// file does not create leaves the manager without that permission, and
// hands it to whoever creates an account of that name later.
func boundServiceAccounts(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, obj := range objs {
		if obj.GetKind() != "RoleBinding" && obj.GetKind() != "ClusterRoleBinding" {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
		for _, s := range subjects {
			s, _ := s.(map[string]any)
			if s["kind"] != "ServiceAccount" {
				continue
			}
			sa := fmt.Sprintf("%v/%v", s["namespace"], s["name"])
			if !slices.Contains(out, sa) {
				out = append(out, sa)
			}
		}
	}
	return out
}

func names(objs []*unstructured.Unstructured, kind string) []string {
	var out []string
	for _, obj := range objs {
		if obj.GetKind() == kind {
			out = append(out, obj.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func deployment(g Gomega, objs []*unstructured.Unstructured, name string) *appsv1.Deployment {
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" && obj.GetName() == name {
			d := &appsv1.Deployment{}
			g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, d)).To(Succeed())
			return d
		}
	}
	g.Expect(name).To(BeEmpty(), "no Deployment of that name")
	return nil
}

// TestDryRunRefusesWhatTheAPIServerRefuses shows the check above can fail:
// a field the schema does not declare, an invalid value, and a custom
// resource whose CRD is not installed are each reported with their object.
func TestDryRunRefusesWhatTheAPIServerRefuses(t *testing.T) {
	needAPIServer(t)
	g := NewWithT(t)
	err := testutil.ServerSideDryRun(context.Background(), k8s, []byte(`
apiVersion: v1
kind: Namespace
metadata:
  name: refused
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unknown-field
  namespace: refused
dataa: {}
---
apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: invalid
  namespace: refused
spec:
  owner: ""
---
apiVersion: example.com/v1
kind: Nothing
metadata:
  name: no-crd
`), fieldManager)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(And(
		ContainSubstring("ConfigMap refused/unknown-field"), ContainSubstring("dataa"),
		ContainSubstring("Nothing no-crd")))
	// Refused by the CRD's schema for its empty owner, not by whatever else
	// could refuse it (a webhook left by another test, which fails closed).
	var apiKeyRefusal string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "APIKey refused/invalid: ") {
			apiKeyRefusal = line
		}
	}
	g.Expect(apiKeyRefusal).To(ContainSubstring(`spec.owner: Invalid value: "": spec.owner in body should be at least 1 chars long`), err.Error())
}
