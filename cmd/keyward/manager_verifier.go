package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keyward-dev/keyward/controllers"
)

// verifierFlags are the manager's --deploy-verifier and --verifier-*
// flags, before parsing into a controllers.VerifierDeployment.
type verifierFlags struct {
	deploy               bool
	image                string
	replicas             int
	configMap            string
	hostNetwork          bool
	cpuRequest, cpuLimit string
	memRequest, memLimit string
}

func (f *verifierFlags) bind(fs *flag.FlagSet) {
	def := controllers.DefaultVerifierResources()
	fs.BoolVar(&f.deploy, "deploy-verifier", true, "run the verifier as a Deployment in --verifier-namespace and report its availability on every APIKey (condition VerifierAvailable); false when something else runs it")
	// config/manager sets VERIFIER_IMAGE to the manager's own image, which
	// `make deploy IMG=...` replaces in both places.
	fs.StringVar(&f.image, "verifier-image", os.Getenv("VERIFIER_IMAGE"), "image of the verifier Deployment: keyward's, the manager's own (default $VERIFIER_IMAGE); required with --deploy-verifier")
	fs.IntVar(&f.replicas, "verifier-replicas", controllers.DefaultVerifierReplicas, "replicas of the verifier Deployment")
	fs.StringVar(&f.configMap, "verifier-config-map", "", "ConfigMap in --verifier-namespace whose key "+controllers.VerifierConfigKey+" the verifier reads as its --config (mounted at "+controllers.VerifierConfigDir+"); empty for none")
	fs.BoolVar(&f.hostNetwork, "verifier-host-network", false, "run the verifier on its node's network (its replicas share the node's ports) with the manager's KUBERNETES_SERVICE_HOST and _PORT, for clusters whose callers cannot reach the pod network")
	fs.StringVar(&f.cpuRequest, "verifier-cpu-request", quantity(def.Requests, corev1.ResourceCPU), "CPU request of each verifier pod")
	fs.StringVar(&f.cpuLimit, "verifier-cpu-limit", quantity(def.Limits, corev1.ResourceCPU), "CPU limit of each verifier pod; empty for none, so that PBKDF2 on a key's first use is not throttled past a proxy's timeout")
	fs.StringVar(&f.memRequest, "verifier-memory-request", quantity(def.Requests, corev1.ResourceMemory), "memory request of each verifier pod")
	fs.StringVar(&f.memLimit, "verifier-memory-limit", quantity(def.Limits, corev1.ResourceMemory), "memory limit of each verifier pod; empty for none")
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}

// deployment checks the flags and returns the verifier's configuration.
func (f *verifierFlags) deployment(namespace string) (controllers.VerifierDeployment, error) {
	if f.image == "" {
		return controllers.VerifierDeployment{}, errors.New("--verifier-image (or $VERIFIER_IMAGE) is required to deploy the verifier; --deploy-verifier=false if something else runs it")
	}
	if f.replicas < 1 || f.replicas > 100 {
		return controllers.VerifierDeployment{}, fmt.Errorf("--verifier-replicas must be between 1 and 100, not %d", f.replicas)
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		into        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--verifier-cpu-request", f.cpuRequest, res.Requests, corev1.ResourceCPU},
		{"--verifier-memory-request", f.memRequest, res.Requests, corev1.ResourceMemory},
		{"--verifier-cpu-limit", f.cpuLimit, res.Limits, corev1.ResourceCPU},
		{"--verifier-memory-limit", f.memLimit, res.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return controllers.VerifierDeployment{}, fmt.Errorf("%s: %w", q.flag, err)
		}
		q.into[q.name] = v
	}
	return controllers.VerifierDeployment{
		Namespace:   namespace,
		Image:       f.image,
		Replicas:    int32(f.replicas),
		Resources:   res,
		ConfigMap:   f.configMap,
		HostNetwork: f.hostNetwork,
		Env:         f.env(),
	}, nil
}

// env passes the API server's address the manager uses on to a verifier
// on the host network: the kubelet gives host-network pods the Service
// address of the API server, which only a node with a service proxy
// reaches, while the manager may have been given one that works.
func (f *verifierFlags) env() []corev1.EnvVar {
	if !f.hostNetwork {
		return nil
	}
	var env []corev1.EnvVar
	for _, name := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		if v := os.Getenv(name); v != "" {
			env = append(env, corev1.EnvVar{Name: name, Value: v})
		}
	}
	return env
}
