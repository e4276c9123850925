package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"ticketing.dev/infra/stack"
)

var root = filepath.Join("..", "..")

// required is collected once: it builds and runs every service.
var required map[string][]string

func TestMain(m *testing.M) {
	s, err := Load(root)
	if err == nil {
		bin, err2 := os.MkdirTemp("", "manifests-bin-")
		if err2 == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			required, err = RequiredEnv(ctx, root, bin, apps(s))
			cancel()
			os.RemoveAll(bin)
		} else {
			err = err2
		}
	}
	if err != nil {
		println("collecting the services' required variables:", err.Error())
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// load gives a fresh Set, so a test can break its own copy.
func load(t *testing.T) *Set {
	t.Helper()
	s, err := Load(root)
	require.NoError(t, err)
	s.RequiredEnv = required
	return s
}

func TestManifestsPassEveryCheck(t *testing.T) {
	s := load(t)
	for _, c := range Checks() {
		t.Run(c.Name, func(t *testing.T) { assert.NoError(t, c.Run(s)) })
	}
}

func TestRequiredEnvComesFromTheServicesThemselves(t *testing.T) {
	assert.ElementsMatch(t, []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"}, required["auth"])
	assert.ElementsMatch(t, []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "STRIPE_KEY"}, required["payments"])
	assert.ElementsMatch(t, []string{"NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "REDIS_HOST"}, required["expiration"])
	assert.ElementsMatch(t, []string{"NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"}, required["client"], "live updates come from the bus")
	assert.Len(t, required, 6)
}

func TestEveryWorkloadAndServiceIsThere(t *testing.T) {
	s := load(t)
	names := map[string]bool{}
	for _, o := range s.Objects {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			names["Deployment/"+v.Name] = true
		case *appsv1.StatefulSet:
			names["StatefulSet/"+v.Name] = true
			assert.NotEmpty(t, v.Spec.VolumeClaimTemplates, "%s keeps its data on a PersistentVolumeClaim", v.Name)
		case *corev1.Service:
			names["Service/"+v.Name] = true
		case *networkingv1.Ingress:
			names["Ingress/"+v.Name] = true
		case *policyv1.PodDisruptionBudget:
			names["PodDisruptionBudget/"+v.Name] = true
		}
	}
	for _, app := range stack.Services() {
		assert.True(t, names["Deployment/"+app+"-depl"], app)
		assert.True(t, names["Service/"+app+"-srv"], app)
		assert.True(t, names["PodDisruptionBudget/"+app+"-pdb"], app)
	}
	for _, db := range []string{"auth", "tickets", "orders", "payments"} {
		assert.True(t, names["StatefulSet/"+db+"-mongo-depl"], db)
		assert.True(t, names["Service/"+db+"-mongo-srv"], db)
	}
	for _, n := range []string{"StatefulSet/expiration-redis-depl", "Service/expiration-redis-srv", "StatefulSet/nats-depl", "Service/nats-srv", "Ingress/ingress-service"} {
		assert.True(t, names[n], n)
	}
}

// skaffold builds an image for each service of the one list (and the
// manifests run no image of the project's that skaffold does not build).
func TestSkaffoldBuildsEveryListedServiceAndNoOther(t *testing.T) {
	assert.ElementsMatch(t, stack.Services(), apps(load(t)))
}

func TestStrictDecodingRejectsUnknownFieldsAndWrongTypes(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, root, dir)
	for name, broken := range map[string]string{
		"misspelt field":     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  selectr: {app: x}\n",
		"wrong type":         "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: \"three thousand\"}]\n",
		"old apiVersion":     "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: x}\n",
		"unlisted kind":      "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
		"old PDB apiVersion": "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec:\n  minAvailable: 1\n",
		"misspelt PDB field": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec:\n  minAvailble: 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, "infra", "k8s", "zz-broken.yaml")
			require.NoError(t, os.WriteFile(file, []byte(broken), 0o644))
			defer os.Remove(file)
			_, err := Load(dir)
			assert.Error(t, err)
		})
	}
	_, err := Load(dir)
	assert.NoError(t, err, "the unbroken copy loads")
}

// copyTree copies what Load reads.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	for _, pattern := range []string{"infra/k8s/*.yaml", "skaffold.yaml", "go.work", "Dockerfile", "*/routes.go", "README.md"} {
		files, err := filepath.Glob(filepath.Join(from, pattern))
		require.NoError(t, err)
		for _, f := range files {
			rel, _ := filepath.Rel(from, f)
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(to, rel), b, 0o644))
		}
	}
}

func deployment(s *Set, name string) *appsv1.Deployment {
	for _, o := range s.Objects {
		if d, ok := o.Obj.(*appsv1.Deployment); ok && d.Name == name {
			return d
		}
	}
	return nil
}

func service(s *Set, name string) *corev1.Service {
	for _, o := range s.Objects {
		if v, ok := o.Obj.(*corev1.Service); ok && v.Name == name {
			return v
		}
	}
	return nil
}

func statefulSet(s *Set, name string) *appsv1.StatefulSet {
	for _, o := range s.Objects {
		if v, ok := o.Obj.(*appsv1.StatefulSet); ok && v.Name == name {
			return v
		}
	}
	return nil
}

func disruptionBudget(s *Set, name string) *policyv1.PodDisruptionBudget {
	for _, o := range s.Objects {
		if v, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok && v.Name == name {
			return v
		}
	}
	return nil
}

// withoutDisruptionBudget drops one; if there is none, the check it should
// break passes and the case fails.
func withoutDisruptionBudget(s *Set, name string) {
	var kept []Object
	for _, o := range s.Objects {
		if v, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok && v.Name == name {
			continue
		}
		kept = append(kept, o)
	}
	s.Objects = kept
}

func networkPolicy(s *Set, name string) *networkingv1.NetworkPolicy {
	for _, np := range s.networkPolicies() {
		if np.Name == name {
			return np
		}
	}
	return nil
}

func withoutNetworkPolicy(s *Set, name string) {
	var kept []Object
	for _, o := range s.Objects {
		if v, ok := o.Obj.(*networkingv1.NetworkPolicy); ok && v.Name == name {
			continue
		}
		kept = append(kept, o)
	}
	s.Objects = kept
}

func withoutEnv(c *corev1.Container, name string) {
	var kept []corev1.EnvVar
	for _, e := range c.Env {
		if e.Name != name {
			kept = append(kept, e)
		}
	}
	c.Env = kept
}

// setEnv sets a variable, replacing it if the container has it.
func setEnv(c *corev1.Container, name, value string) {
	withoutEnv(c, name)
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func TestEachCheckFailsOnABrokenCopy(t *testing.T) {
	f := false
	cases := []struct {
		check string
		want  string
		brk   func(s *Set)
	}{
		{"service selectors match workloads", "selects no workload", func(s *Set) {
			service(s, "auth-srv").Spec.Selector = map[string]string{"app": "atuh"}
		}},
		{"service selectors match workloads", "does not open", func(s *Set) {
			service(s, "tickets-srv").Spec.Ports[0].TargetPort.IntVal = 3001
		}},
		{"ingress backends exist", "no service auth-service", func(s *Set) {
			s.ingresses()[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "auth-service"
		}},
		{"ingress backends exist", "has no port 80", func(s *Set) {
			s.ingresses()[0].Spec.Rules[0].HTTP.Paths[1].Backend.Service.Port.Number = 80
		}},
		{"required env is set", "payments requires STRIPE_KEY", func(s *Set) {
			withoutEnv(&deployment(s, "payments-depl").Spec.Template.Spec.Containers[0], "STRIPE_KEY")
		}},
		{"required env is set", "NATS_CLIENT_ID must come from metadata.name", func(s *Set) {
			c := &deployment(s, "orders-depl").Spec.Template.Spec.Containers[0]
			withoutEnv(c, "NATS_CLIENT_ID")
			c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_CLIENT_ID", Value: "orders"})
		}},
		{"only the documented secrets", "not documented", func(s *Set) {
			c := &deployment(s, "auth-depl").Spec.Template.Spec.Containers[0]
			for i := range c.Env {
				if c.Env[i].Name == "JWT_KEY" {
					c.Env[i].ValueFrom.SecretKeyRef.Name = "jwt"
				}
			}
		}},
		{"probes match what the service serves", "probe asks /health", func(s *Set) {
			deployment(s, "client-depl").Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/health"
		}},
		{"probes match what the service serves", "auth/routes.go does not serve /readyz", func(s *Set) {
			s.Routes["auth"] = strings.ReplaceAll(s.Routes["auth"], "service.NewRouter(", "chi.NewRouter(")
		}},
		{"probes match what the service serves", "client/routes.go does not serve /readyz", func(s *Set) {
			s.Routes["client"] = strings.ReplaceAll(s.Routes["client"], `r.Get("/readyz"`, `r.Get("/ready"`)
		}},
		{"skaffold artifacts are deployed and built", "not used by any manifest", func(s *Set) {
			deployment(s, "client-depl").Spec.Template.Spec.Containers[0].Image = "someone/client"
		}},
		{"skaffold artifacts are deployed and built", "does not EXPOSE 3000", func(s *Set) {
			s.Dockerfiles["Dockerfile"] = strings.ReplaceAll(s.Dockerfiles["Dockerfile"], "EXPOSE 3000", "EXPOSE 8080")
		}},
		{"skaffold artifacts are deployed and built", "artifact ticketing/orders builds SERVICE=\"tickets\", want \"orders\"", func(s *Set) {
			for i := range s.Skaffold.Build.Artifacts {
				if a := &s.Skaffold.Build.Artifacts[i]; a.Image == "ticketing/orders" {
					a.Docker.BuildArgs = map[string]string{"SERVICE": "tickets"}
				}
			}
		}},
		{"skaffold artifacts are deployed and built", "Dockerfile must take the service to build as ARG SERVICE", func(s *Set) {
			s.Dockerfiles["Dockerfile"] = strings.ReplaceAll(s.Dockerfiles["Dockerfile"], "ARG SERVICE\n", "")
		}},
		{"skaffold artifacts are deployed and built", "go.work's toolchain", func(s *Set) {
			s.Toolchain = "1.99.0"
		}},
		{"skaffold artifacts are deployed and built", "push must be false", func(s *Set) {
			t := true
			s.Skaffold.Build.Local.Push = &t
		}},
		{"containers are hardened and bounded", "may run as root", func(s *Set) {
			deployment(s, "tickets-depl").Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = &f
		}},
		{"containers are hardened and bounded", "no memory limit", func(s *Set) {
			delete(deployment(s, "expiration-depl").Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
		}},
		{"containers are hardened and bounded", "writable root filesystem", func(s *Set) {
			deployment(s, "orders-depl").Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		}},
		{"recommended labels", "has no label app.kubernetes.io/part-of", func(s *Set) {
			delete(deployment(s, "auth-depl").Labels, "app.kubernetes.io/part-of")
		}},
		{"services run replicated", "Deployment auth-depl runs 1 replica(s), want at least 2", func(s *Set) {
			one := int32(1)
			deployment(s, "auth-depl").Spec.Replicas = &one
		}},
		{"services run replicated", "Deployment tickets-depl runs 1 replica(s)", func(s *Set) {
			deployment(s, "tickets-depl").Spec.Replicas = nil // the API server's default is 1
		}},
		{"services run replicated", "StatefulSet orders-mongo-depl runs 2 replicas, want 1", func(s *Set) {
			two := int32(2)
			statefulSet(s, "orders-mongo-depl").Spec.Replicas = &two
		}},
		{"services run replicated", "payments-depl runs 2 replicas but container payments's NATS_CLIENT_ID does not come from metadata.name", func(s *Set) {
			c := &deployment(s, "payments-depl").Spec.Template.Spec.Containers[0]
			withoutEnv(c, "NATS_CLIENT_ID")
			c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_CLIENT_ID", Value: "payments"})
		}},
		{"one disruption budget per service", "Deployment orders-depl has no PodDisruptionBudget", func(s *Set) {
			withoutDisruptionBudget(s, "orders-pdb")
		}},
		{"one disruption budget per service", "PodDisruptionBudget auth-pdb selects no workload", func(s *Set) {
			disruptionBudget(s, "auth-pdb").Spec.Selector.MatchLabels = map[string]string{"app": "atuh"}
		}},
		{"one disruption budget per service", "Deployment auth-depl has no PodDisruptionBudget", func(s *Set) {
			disruptionBudget(s, "auth-pdb").Spec.Selector.MatchLabels = map[string]string{"app": "atuh"}
		}},
		{"one disruption budget per service", "PodDisruptionBudget client-pdb has no selector", func(s *Set) {
			disruptionBudget(s, "client-pdb").Spec.Selector = nil
		}},
		{"one disruption budget per service", "PodDisruptionBudget tickets-pdb selects the pods of 4 workloads", func(s *Set) {
			disruptionBudget(s, "tickets-pdb").Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/component": "api"}
		}},
		{"one disruption budget per service", "Deployment expiration-depl is selected by 2 PodDisruptionBudgets (expiration-pdb, expiration-pdb-2)", func(s *Set) {
			extra := disruptionBudget(s, "expiration-pdb").DeepCopy()
			extra.Name = "expiration-pdb-2"
			s.Objects = append(s.Objects, Object{File: "expiration-depl.yaml", Obj: extra})
		}},
		{"one disruption budget per service", "keeps 2 of 2 pods available, so no pod may ever be evicted", func(s *Set) {
			two := intstr.FromInt32(2)
			disruptionBudget(s, "payments-pdb").Spec.MinAvailable = &two
		}},
		{"one disruption budget per service", "keeps 0 of 2 pods available", func(s *Set) {
			all := intstr.FromString("100%")
			pdb := disruptionBudget(s, "orders-pdb")
			pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable = nil, &all
		}},
		{"egress is only what each part talks to", "StatefulSet auth-mongo-depl has unrestricted egress", func(s *Set) {
			withoutNetworkPolicy(s, "default-deny-egress")
			withoutNetworkPolicy(s, "dns-egress")
		}},
		{"egress is only what each part talks to", "Deployment orders-depl cannot reach dns:53/UDP", func(s *Set) {
			withoutNetworkPolicy(s, "dns-egress")
		}},
		{"egress is only what each part talks to", "Deployment payments-depl cannot reach 0.0.0.0/0:443/TCP", func(s *Set) {
			port := intstr.FromInt32(80)
			networkPolicy(s, "payments-egress-to-stripe").Spec.Egress[0].Ports[0].Port = &port
		}},
		{"egress is only what each part talks to", "Deployment payments-depl may reach 0.0.0.0/0:80/TCP, which it does not talk to", func(s *Set) {
			port := intstr.FromInt32(80)
			networkPolicy(s, "payments-egress-to-stripe").Spec.Egress[0].Ports[0].Port = &port
		}},
		{"egress is only what each part talks to", "Deployment auth-depl cannot reach nats-depl:4222/TCP", func(s *Set) {
			delete(deployment(s, "auth-depl").Spec.Template.Labels, "ticketing.dev/nats-client")
		}},
		{"egress is only what each part talks to", "Deployment tickets-depl may reach anywhere:*", func(s *Set) {
			np := networkPolicy(s, "tickets-egress-to-mongo")
			np.Spec.Egress[0].To, np.Spec.Egress[0].Ports = nil, nil
		}},
		{"egress is only what each part talks to", "Deployment client-depl cannot reach payments-depl:3000/TCP", func(s *Set) {
			networkPolicy(s, "client-egress-to-apis").Spec.Egress[0].To[0].PodSelector.MatchExpressions[0].Values = []string{"auth", "tickets", "orders"}
		}},
		{"the services are on the bus the manifests run", `orders: NATS_CLUSTER_ID="test-cluster", the server's -cid is "ticketing"`, func(s *Set) {
			setEnv(&deployment(s, "orders-depl").Spec.Template.Spec.Containers[0], "NATS_CLUSTER_ID", "test-cluster")
		}},
		{"the services are on the bus the manifests run", `tickets: BUS="kafka"`, func(s *Set) {
			setEnv(&deployment(s, "tickets-depl").Spec.Template.Spec.Containers[0], "BUS", "kafka")
		}},
		{"the services are on the bus the manifests run", "payments is on BUS=jetstream, but the manifests run 0 such bus", func(s *Set) {
			setEnv(&deployment(s, "payments-depl").Spec.Template.Spec.Containers[0], "BUS", "jetstream")
		}},
		{"the services are on the bus the manifests run", "the services are on different buses [jetstream stan]", func(s *Set) {
			setEnv(&deployment(s, "payments-depl").Spec.Template.Spec.Containers[0], "BUS", "jetstream")
		}},
		{"the services are on the bus the manifests run", "auth: NATS_URL nats-depl:4222: nats-depl is neither a server of nats-depl nor a Service selecting its pods", func(s *Set) {
			setEnv(&deployment(s, "auth-depl").Spec.Template.Spec.Containers[0], "NATS_URL", "nats://nats-depl:4222")
		}},
		{"the services are on the bus the manifests run", "client: NATS_URL nats-srv:8222: service nats-srv has no port 8222", func(s *Set) {
			setEnv(&deployment(s, "client-depl").Spec.Template.Spec.Containers[0], "NATS_URL", "nats://nats-srv:8222")
		}},
		{"the services are on the bus the manifests run", "expiration: NATS_URL lists 2 servers; NATS Streaming takes one", func(s *Set) {
			setEnv(&deployment(s, "expiration-depl").Spec.Template.Spec.Containers[0], "NATS_URL", "nats://nats-srv:4222,nats://nats-srv:4222")
		}},
		{"the bus admits its clients, its peers and Prometheus only", "StatefulSet nats-depl does not admit auth-depl:4222/TCP", func(s *Set) {
			withoutNetworkPolicy(s, "nats-from-bus-clients")
		}},
		{"the bus admits its clients, its peers and Prometheus only", "StatefulSet nats-depl admits namespace(ticketing.dev/monitoring=true):8222/TCP, which has no business there", func(s *Set) {
			np := networkPolicy(s, "nats-from-bus-clients").DeepCopy()
			np.Name = "nats-monitoring"
			port := intstr.FromInt32(8222)
			np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ticketing.dev/monitoring": "true"}}}}
			np.Spec.Ingress[0].Ports[0].Port = &port
			s.Objects = append(s.Objects, Object{File: "network-policies.yaml", Obj: np})
		}},
		{"the bus admits its clients, its peers and Prometheus only", "StatefulSet nats-depl admits auth-mongo-depl:4222/TCP", func(s *Set) {
			networkPolicy(s, "nats-from-bus-clients").Spec.Ingress[0].From[0].PodSelector.MatchLabels = map[string]string{"app.kubernetes.io/part-of": "ticketing"}
		}},
		{"services run replicated", "StatefulSet nats-depl runs 3 replicas, want 1: it is not set up as a cluster (StatefulSet nats-depl is not a NATS JetStream StatefulSet)", func(s *Set) {
			three := int32(3)
			statefulSet(s, "nats-depl").Spec.Replicas = &three
		}},
		{"infrastructure images pinned to exact versions", "runs mongo:7, which is not pinned", func(s *Set) {
			statefulSet(s, "orders-mongo-depl").Spec.Template.Spec.Containers[0].Image = "mongo:7"
		}},
		{"infrastructure images pinned to exact versions", "runs redis:latest", func(s *Set) {
			statefulSet(s, "expiration-redis-depl").Spec.Template.Spec.Containers[0].Image = "redis:latest"
		}},
		{"infrastructure images pinned to exact versions", "runs nats-streaming, which", func(s *Set) {
			statefulSet(s, "nats-depl").Spec.Template.Spec.Containers[0].Image = "nats-streaming"
		}},
		{"no monitoring port on a service", "service nats-srv exposes monitoring port monitoring (8222)", func(s *Set) {
			svc := service(s, "nats-srv")
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "monitoring", Port: 8222, TargetPort: intstr.FromInt32(8222)})
		}},
		{"the ingress serves TLS", "ingress ingress-service has no tls block", func(s *Set) {
			s.ingresses()[0].Spec.TLS = nil
		}},
		{"the ingress serves TLS", "tls secret ticketing-tls is not documented in README.md", func(s *Set) {
			s.Readme = strings.ReplaceAll(s.Readme, "ticketing-tls", "the secret")
		}},
		{"the ingress serves TLS", "host ticketing.dev is not in its tls block", func(s *Set) {
			s.ingresses()[0].Spec.TLS[0].Hosts = []string{"example.com"}
		}},
	}
	byName := map[string]Check{}
	for _, c := range Checks() {
		byName[c.Name] = c
	}
	for _, c := range cases {
		t.Run(c.check+"/"+c.want, func(t *testing.T) {
			s := load(t)
			check, ok := byName[c.check]
			require.True(t, ok, c.check)
			require.NoError(t, check.Run(s), "the unbroken copy passes")
			c.brk(s)
			err := check.Run(s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
