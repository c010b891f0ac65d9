package controllers

import (
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// VerifierRedisSecretDir is where the Secret --verifier-redis-secret is
// mounted: the verifier's configuration names its files there
// (rateLimits.redis.passwordFile, tls.caFile, tls.certFile, tls.keyFile).
// Not under VerifierConfigDir: a mount point cannot be made inside the
// read-only ConfigMap volume there.
const VerifierRedisSecretDir = "/etc/keyward-redis"

// redisSecretVolumes give the verifier the Secret that holds what it needs
// to reach Redis: a password, the CA of Redis's certificate, a client
// certificate. Every key of the Secret becomes a file (their names are the
// configuration's to choose); the verifier reads them when it starts.
func (v VerifierDeployment) redisSecretVolumes() ([]*corev1ac.VolumeApplyConfiguration, []*corev1ac.VolumeMountApplyConfiguration) {
	if v.RedisSecret == "" {
		return nil, nil
	}
	return []*corev1ac.VolumeApplyConfiguration{secretVolume("redis", v.RedisSecret)},
		[]*corev1ac.VolumeMountApplyConfiguration{corev1ac.VolumeMount().WithName("redis").WithMountPath(VerifierRedisSecretDir).WithReadOnly(true)}
}
