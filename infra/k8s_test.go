package infra

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const namespace = "shop"

// newObject maps apiVersion/kind to the Go type a rendered resource must decode into. A kind
// that is not listed fails the test: add it here, with its checks, when the manifests grow.
var newObject = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
}

// rendered is the output of one kustomization, decoded.
type rendered struct {
	namespaces   map[string]*corev1.Namespace
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	services     map[string]*corev1.Service
	deployments  map[string]*appsv1.Deployment
	jobs         map[string]*batchv1.Job
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	podSelectors map[string]labels.Selector // "Kind/name" -> selector, of everything that selects pods
}

// render runs kustomize (the same engine as `kubectl kustomize`) on dir and decodes every
// resource strictly: an unknown or misspelt field anywhere is an error, as is an unknown kind.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)

	r := &rendered{
		namespaces: map[string]*corev1.Namespace{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{},
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		hpas:         map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:         map[string]*policyv1.PodDisruptionBudget{},
		podSelectors: map[string]labels.Selector{},
	}
	require.NotEmpty(t, m.Resources())
	for _, res := range m.Resources() {
		key := res.GetApiVersion() + "/" + res.GetKind()
		id := res.GetKind() + "/" + res.GetName()
		mk, ok := newObject[key]
		require.True(t, ok, "%s: kind %s is not known to this test", id, key)
		y, err := res.AsYAML()
		require.NoError(t, err)
		obj := mk()
		require.NoError(t, yaml.UnmarshalStrict(y, obj), "%s does not decode strictly into %T:\n%s", id, obj, y)

		meta := obj.(metav1.Object)
		assert.Empty(t, validation.IsDNS1123Subdomain(meta.GetName()), "%s: invalid name", id)
		for k, v := range meta.GetLabels() {
			assert.Empty(t, validation.IsQualifiedName(k), "%s: label key %q", id, k)
			assert.Empty(t, validation.IsValidLabelValue(v), "%s: label value %q", id, v)
		}
		if key == "v1/Namespace" {
			r.namespaces[meta.GetName()] = obj.(*corev1.Namespace)
			continue
		}
		assert.Equal(t, namespace, meta.GetNamespace(), "%s: namespace", id)
		assert.Equal(t, "shop", meta.GetLabels()["app.kubernetes.io/part-of"], "%s: part-of label", id)

		switch o := obj.(type) {
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.Service:
			r.services[o.Name] = o
			r.podSelectors[id] = labels.SelectorFromSet(o.Spec.Selector)
		case *appsv1.Deployment:
			r.deployments[o.Name] = o
			r.podSelectors[id] = mustSelector(t, o.Spec.Selector)
		case *batchv1.Job:
			r.jobs[o.Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			r.pdbs[o.Name] = o
			r.podSelectors[id] = mustSelector(t, o.Spec.Selector)
		}
	}
	return r
}

func mustSelector(t *testing.T, s *metav1.LabelSelector) labels.Selector {
	t.Helper()
	require.NotNil(t, s)
	sel, err := metav1.LabelSelectorAsSelector(s)
	require.NoError(t, err)
	require.False(t, sel.Empty(), "an empty selector selects every pod")
	return sel
}

func TestKustomizeBase(t *testing.T) {
	r := render(t, filepath.Join(infraDir(t), "k8s", "base"))
	checkCommon(t, r)
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			d := r.deployments[s.Name]
			require.NotNil(t, d)
			assert.Equal(t, int32(2), *d.Spec.Replicas)
			c := d.Spec.Template.Spec.Containers[0]
			assert.Equal(t, "ghcr.io/shopworks/"+s.Name+":latest", c.Image)
			assertQuantity(t, "250m", c.Resources.Requests.Cpu())
			assertQuantity(t, "500m", c.Resources.Limits.Cpu())
			assertQuantity(t, "128Mi", c.Resources.Requests.Memory())
			assertQuantity(t, "256Mi", c.Resources.Limits.Memory())

			h := r.hpas[s.Name]
			require.NotNil(t, h)
			assert.Equal(t, int32(2), *h.Spec.MinReplicas)
			assert.Equal(t, int32(10), h.Spec.MaxReplicas)
			assert.Equal(t, intstr.FromInt32(1), *r.pdbs[s.Name].Spec.MinAvailable)
		})
	}
}

func TestKustomizeProductionOverlay(t *testing.T) {
	base := render(t, filepath.Join(infraDir(t), "k8s", "base"))
	r := render(t, filepath.Join(infraDir(t), "k8s", "overlays", "production"))
	checkCommon(t, r)
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			d := r.deployments[s.Name]
			require.NotNil(t, d)
			assert.Equal(t, int32(3), *d.Spec.Replicas)
			c := d.Spec.Template.Spec.Containers[0]
			repo, tag, ok := strings.Cut(c.Image, ":")
			require.True(t, ok, "image %q has no tag", c.Image)
			assert.Equal(t, "ghcr.io/shopworks/"+s.Name, repo)
			assert.NotEqual(t, "latest", tag, "production pins a release tag")
			for _, j := range r.jobs {
				if j.Name == s.Name+"-migrate" {
					assert.Equal(t, c.Image, j.Spec.Template.Spec.Containers[0].Image, "the migrate Job runs the same release")
				}
			}

			bc := base.deployments[s.Name].Spec.Template.Spec.Containers[0]
			assert.Equal(t, 1, c.Resources.Limits.Cpu().Cmp(*bc.Resources.Limits.Cpu()), "production CPU limit above base")
			assert.Equal(t, 1, c.Resources.Limits.Memory().Cmp(*bc.Resources.Limits.Memory()), "production memory limit above base")
			assertQuantity(t, "1", c.Resources.Limits.Cpu())

			assert.Equal(t, int32(3), *r.hpas[s.Name].Spec.MinReplicas)
			assert.Equal(t, intstr.FromInt32(2), *r.pdbs[s.Name].Spec.MinAvailable)
		})
	}
}

func assertQuantity(t *testing.T, want string, got *resource.Quantity) {
	t.Helper()
	w := resource.MustParse(want)
	assert.Zero(t, w.Cmp(*got), "want %s, got %s", want, got.String())
}

// checkCommon asserts what must hold for the base and for every overlay.
func checkCommon(t *testing.T, r *rendered) {
	t.Helper()
	require.Contains(t, r.namespaces, namespace)
	assert.Equal(t, "restricted", r.namespaces[namespace].Labels["pod-security.kubernetes.io/enforce"])
	require.Len(t, r.deployments, len(services))

	for _, s := range services {
		t.Run(s.Name+"/deployment", func(t *testing.T) {
			d := r.deployments[s.Name]
			require.NotNil(t, d, "Deployment %s", s.Name)
			require.NotNil(t, d.Spec.Replicas)
			assert.GreaterOrEqual(t, *d.Spec.Replicas, int32(2), "at least two replicas")
			podLabels := labels.Set(d.Spec.Template.Labels)
			assert.True(t, r.podSelectors["Deployment/"+s.Name].Matches(podLabels), "selector must match the pod template")
			assert.Equal(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxUnavailable, "rolling updates never drop below the replica count")

			pod := d.Spec.Template.Spec
			checkPodSecurity(t, pod)
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			checkContainerSecurity(t, c)
			checkEnvSources(t, r, s, c)

			require.Len(t, c.Ports, 1)
			assert.Equal(t, "http", c.Ports[0].Name)
			assert.Equal(t, int32(s.Port), c.Ports[0].ContainerPort)

			// Probes: live and startup on /healthz, ready on /readyz, all on the named port.
			for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				require.NotNil(t, p, "%s probe", name)
				require.NotNil(t, p.HTTPGet, "%s probe is an HTTP GET", name)
				assert.Equal(t, intstr.FromString("http"), p.HTTPGet.Port, "%s probe port", name)
				want := "/healthz"
				if name == "readiness" {
					want = "/readyz"
				}
				assert.Equal(t, want, p.HTTPGet.Path, "%s probe path", name)
			}
			assert.GreaterOrEqual(t, c.StartupProbe.PeriodSeconds*c.StartupProbe.FailureThreshold, int32(60),
				"startup allows time for migrations under the lock")

			// Limits on everything; requests never above limits.
			for _, rn := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, lim := c.Resources.Requests[rn], c.Resources.Limits[rn]
				assert.False(t, req.IsZero(), "requests.%s", rn)
				assert.False(t, lim.IsZero(), "limits.%s", rn)
				assert.LessOrEqual(t, req.Cmp(lim), 0, "requests.%s <= limits.%s", rn, rn)
			}

			// GOMAXPROCS from the container's own CPU limit, rounded up to whole CPUs.
			gmp := envVar(c, "GOMAXPROCS")
			require.NotNil(t, gmp, "GOMAXPROCS env")
			require.NotNil(t, gmp.ValueFrom)
			require.NotNil(t, gmp.ValueFrom.ResourceFieldRef)
			ref := gmp.ValueFrom.ResourceFieldRef
			assert.Equal(t, "limits.cpu", ref.Resource)
			assert.True(t, ref.ContainerName == "" || ref.ContainerName == c.Name)
			assertQuantity(t, "1", &ref.Divisor)

			require.NotNil(t, c.Lifecycle)
			require.NotNil(t, c.Lifecycle.PreStop)
			require.NotNil(t, c.Lifecycle.PreStop.Sleep, "preStop sleep (the image has no shell)")
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			assert.Less(t, c.Lifecycle.PreStop.Sleep.Seconds, int64(*pod.TerminationGracePeriodSeconds))
		})

		t.Run(s.Name+"/service", func(t *testing.T) {
			svc := r.services[s.Name]
			require.NotNil(t, svc, "Service %s", s.Name)
			require.Len(t, svc.Spec.Ports, 1)
			p := svc.Spec.Ports[0]
			assert.Equal(t, int32(s.Port), p.Port)
			assert.Equal(t, intstr.FromString("http"), p.TargetPort)
			assert.True(t, r.podSelectors["Service/"+s.Name].Matches(labels.Set(r.deployments[s.Name].Spec.Template.Labels)),
				"Service selects the Deployment's pods")
		})

		t.Run(s.Name+"/hpa", func(t *testing.T) {
			h := r.hpas[s.Name]
			require.NotNil(t, h, "HPA %s", s.Name)
			ref := h.Spec.ScaleTargetRef
			assert.Equal(t, "apps/v1", ref.APIVersion)
			assert.Equal(t, "Deployment", ref.Kind)
			require.Contains(t, r.deployments, ref.Name, "HPA targets an existing Deployment")
			assert.Equal(t, s.Name, ref.Name)
			require.NotNil(t, h.Spec.MinReplicas)
			assert.GreaterOrEqual(t, *h.Spec.MinReplicas, int32(2))
			assert.LessOrEqual(t, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
			assert.Equal(t, *r.deployments[s.Name].Spec.Replicas, *h.Spec.MinReplicas,
				"the Deployment starts at the HPA's minimum, so an apply does not scale below it")
			require.Len(t, h.Spec.Metrics, 1)
			m := h.Spec.Metrics[0]
			require.Equal(t, autoscalingv2.ResourceMetricSourceType, m.Type)
			assert.Equal(t, corev1.ResourceCPU, m.Resource.Name)
			assert.Equal(t, autoscalingv2.UtilizationMetricType, m.Resource.Target.Type)
			require.NotNil(t, m.Resource.Target.AverageUtilization)
			assert.Equal(t, int32(70), *m.Resource.Target.AverageUtilization)
		})

		t.Run(s.Name+"/pdb", func(t *testing.T) {
			p := r.pdbs[s.Name]
			require.NotNil(t, p, "PDB %s", s.Name)
			d := r.deployments[s.Name]
			assert.True(t, r.podSelectors["PodDisruptionBudget/"+s.Name].Matches(labels.Set(d.Spec.Template.Labels)),
				"PDB selects the Deployment's pods")
			require.NotNil(t, p.Spec.MinAvailable)
			require.Equal(t, intstr.Int, p.Spec.MinAvailable.Type)
			assert.GreaterOrEqual(t, p.Spec.MinAvailable.IntVal, int32(1))
			assert.Less(t, p.Spec.MinAvailable.IntVal, *d.Spec.Replicas, "a node drain must be able to evict one pod")
		})

		t.Run(s.Name+"/migrate-job", func(t *testing.T) {
			j := r.jobs[s.Name+"-migrate"]
			require.NotNil(t, j, "Job %s-migrate", s.Name)
			pod := j.Spec.Template.Spec
			assert.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}, pod.RestartPolicy)
			require.NotNil(t, j.Spec.BackoffLimit)
			require.NotNil(t, j.Spec.ActiveDeadlineSeconds, "a stuck migration must not run forever")
			checkPodSecurity(t, pod)
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			checkContainerSecurity(t, c)
			checkEnvSources(t, r, s, c)
			assert.Empty(t, c.Command, "keep the image's ENTRYPOINT (the binary)")
			assert.Equal(t, []string{"migrate"}, c.Args)
			assert.Equal(t, r.deployments[s.Name].Spec.Template.Spec.Containers[0].Image, c.Image)
			assert.False(t, c.Resources.Limits.Cpu().IsZero())
			assert.False(t, c.Resources.Limits.Memory().IsZero())
			// Nothing that routes traffic or counts replicas may select the migration pod.
			for id, sel := range r.podSelectors {
				assert.False(t, sel.Matches(labels.Set(j.Spec.Template.Labels)), "%s selects the migration pod", id)
			}
		})
	}
}

func checkPodSecurity(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	sc := pod.SecurityContext
	require.NotNil(t, sc, "pod securityContext")
	require.NotNil(t, sc.RunAsNonRoot)
	assert.True(t, *sc.RunAsNonRoot, "runAsNonRoot")
	require.NotNil(t, sc.RunAsUser, "numeric runAsUser: the image's USER is a name")
	assert.NotZero(t, *sc.RunAsUser)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken)
}

func checkContainerSecurity(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	require.NotNil(t, sc, "%s: container securityContext", c.Name)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.Nil(t, sc.Privileged)

	seen := map[string]bool{}
	for _, e := range c.Env {
		assert.False(t, seen[e.Name], "%s: env %s set twice", c.Name, e.Name)
		seen[e.Name] = true
	}
}

// checkEnvSources asserts that the container takes its ConfigMap and Secret, that both exist in
// the rendered output (with kustomize's hashed names), and that together they provide every
// variable of the service's contract, with non-secrets and secrets on the right side.
func checkEnvSources(t *testing.T, r *rendered, s serviceSpec, c corev1.Container) {
	t.Helper()
	var cm *corev1.ConfigMap
	var sec *corev1.Secret
	for _, src := range c.EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			cm = r.configMaps[src.ConfigMapRef.Name]
			require.NotNil(t, cm, "%s: ConfigMap %s is not rendered", c.Name, src.ConfigMapRef.Name)
		case src.SecretRef != nil:
			sec = r.secrets[src.SecretRef.Name]
			require.NotNil(t, sec, "%s: Secret %s is not rendered", c.Name, src.SecretRef.Name)
		}
	}
	require.NotNil(t, cm, "%s: no ConfigMap in envFrom", c.Name)
	require.NotNil(t, sec, "%s: no Secret in envFrom", c.Name)
	assert.True(t, strings.HasPrefix(cm.Name, s.Name+"-config-"), "ConfigMap name carries the content hash: %s", cm.Name)

	for _, k := range s.ConfigKeys {
		assert.Contains(t, cm.Data, k, "ConfigMap %s", cm.Name)
	}
	assert.Equal(t, fmt.Sprint(s.Port), cm.Data["PORT"])
	for _, k := range s.SecretKeys {
		assert.Contains(t, sec.StringData, k, "Secret %s", sec.Name)
		assert.NotContains(t, cm.Data, k, "%s is a credential: Secret, not ConfigMap", k)
	}
	for k := range sec.StringData {
		assert.True(t, slices.Contains(s.SecretKeys, k), "unexpected Secret key %s", k)
	}
	dbURL := sec.StringData["DATABASE_URL"] + sec.StringData["MYSQL_DSN"]
	assert.Contains(t, dbURL, "/"+s.DB, "the service's own database")
	assert.Contains(t, dbURL, s.DBUser+":", "the service's own user")
	rabbit, err := url.Parse(sec.StringData["RABBIT_URL"])
	require.NoError(t, err)
	assert.Equal(t, s.Name, rabbit.User.Username(), "the service's own broker user (infra/rabbitmq/definitions.json)")
	assert.Contains(t, brokerUsers(t), rabbit.User.Username())
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}
