package manifests

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadOverlay gives a fresh Set of the production overlay rendered from
// root.
func loadOverlay(t *testing.T, from string) *Set {
	t.Helper()
	s, err := LoadOverlay(from, ProdOverlay)
	require.NoError(t, err)
	s.RequiredEnv = required
	return s
}

func TestProdOverlayRendersAndPassesEveryCheck(t *testing.T) {
	s := loadOverlay(t, root)
	for _, c := range append(Checks(), OverlayChecks()...) {
		t.Run(c.Name, func(t *testing.T) { assert.NoError(t, c.Run(s)) })
	}
	var names []string
	for _, o := range s.Objects {
		names = append(names, strings.TrimPrefix(o.File, "overlay "))
	}
	sort.Strings(names)
	t.Logf("%d objects:\n%s", len(names), strings.Join(names, "\n"))
	for _, want := range []string{
		"HorizontalPodAutoscaler/tickets-hpa", "CronJob/orders-mongo-backup", "PersistentVolumeClaim/auth-mongo-backup",
		"NetworkPolicy/services-from-prometheus", "Deployment/client-depl", "StatefulSet/jetstream-depl",
		"Service/jetstream-cluster", "Service/jetstream-srv", "ConfigMap/jetstream-config", "PodDisruptionBudget/jetstream-pdb",
		"NetworkPolicy/jetstream-from-bus-clients", "NetworkPolicy/jetstream-routes", "NetworkPolicy/jetstream-from-prometheus",
		"NetworkPolicy/bus-clients-egress-to-jetstream",
	} {
		assert.Contains(t, names, want)
	}
	// Production runs no NATS Streaming.
	for _, gone := range []string{"StatefulSet/nats-depl", "Service/nats-srv", "NetworkPolicy/nats-from-bus-clients", "NetworkPolicy/bus-clients-egress-to-nats"} {
		assert.NotContains(t, names, gone)
	}
	w, c, ok := s.appContainer("tickets")
	require.True(t, ok)
	assert.EqualValues(t, 3, w.replicas)
	assert.Equal(t, "ticketing/tickets:1.0.0", c.Image)
	assert.Equal(t, "100m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, 2, disruptionBudget(s, "tickets-pdb").Spec.MinAvailable.IntValue())
}

// The production bus, spelled out (the checks hold the rules; this holds
// the values).
func TestProdOverlayRunsJetStreamOnThreeServers(t *testing.T) {
	s := loadOverlay(t, root)
	buses, err := s.buses()
	require.NoError(t, err)
	require.Len(t, buses, 1)
	b := buses[0]
	assert.Equal(t, busKindJetStream, b.kind)
	assert.Equal(t, "jetstream-depl", b.w.name)
	assert.Equal(t, "nats:"+NATSServerVersion+"-alpine", b.c.Image)
	assert.EqualValues(t, 3, b.w.replicas)
	require.Len(t, b.w.sts.Spec.VolumeClaimTemplates, 1)
	assert.Equal(t, "10Gi", b.w.sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
	assert.Equal(t, "/healthz", b.c.StartupProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz?js-enabled-only=true", b.c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz?js-server-only=true", b.c.ReadinessProbe.HTTPGet.Path)
	for _, p := range []int{b.c.StartupProbe.HTTPGet.Port.IntValue(), b.c.LivenessProbe.HTTPGet.Port.IntValue(), b.c.ReadinessProbe.HTTPGet.Port.IntValue()} {
		assert.Equal(t, 8222, p)
	}
	assert.True(t, b.opts.JetStream)
	assert.Equal(t, "/data", b.opts.StoreDir)
	assert.EqualValues(t, 8<<30, b.opts.JetStreamMaxStore)
	assert.Equal(t, "ticketing", b.opts.Cluster.Name)
	assert.True(t, b.opts.Cluster.NoAdvertise)
	pdb := disruptionBudget(s, "jetstream-pdb")
	require.NotNil(t, pdb)
	assert.Equal(t, "1", pdb.Spec.MaxUnavailable.String())
	assert.Nil(t, pdb.Spec.MinAvailable)
	assert.Equal(t, map[string]string{"app": "jetstream"}, pdb.Spec.Selector.MatchLabels)

	// Who reaches the servers: the six services, the servers themselves,
	// Prometheus; nothing else.
	got, restricted, err := s.ingressOf(b.w)
	require.NoError(t, err)
	assert.True(t, restricted)
	assert.Equal(t, map[string]bool{
		"auth-depl:4222/TCP": true, "tickets-depl:4222/TCP": true, "orders-depl:4222/TCP": true,
		"payments-depl:4222/TCP": true, "expiration-depl:4222/TCP": true, "client-depl:4222/TCP": true,
		"jetstream-depl:6222/TCP":                           true,
		"namespace(ticketing.dev/monitoring=true):7777/TCP": true,
	}, got)
	out, restricted, err := s.egressOf(b.w)
	require.NoError(t, err)
	assert.True(t, restricted)
	assert.Equal(t, map[string]bool{"dns:53/UDP": true, "dns:53/TCP": true, "jetstream-depl:6222/TCP": true}, out)

	const url = "nats://jetstream-depl-0.jetstream-cluster:4222,nats://jetstream-depl-1.jetstream-cluster:4222,nats://jetstream-depl-2.jetstream-cluster:4222"
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		require.True(t, ok, app)
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		assert.Equal(t, "jetstream", env["BUS"], app)
		assert.Equal(t, "3", env["JETSTREAM_REPLICAS"], app)
		assert.Equal(t, url, env["NATS_URL"], app)
		w, _, _ := s.appContainer(app)
		dest, _, err := s.egressOf(w)
		require.NoError(t, err)
		assert.True(t, dest["jetstream-depl:4222/TCP"], "%s reaches the servers", app)
	}
}

// The base stays what the original runs: NATS Streaming, one server, the
// services on it by default; and infra/k8s holds no kustomization.yaml
// (kubectl apply -f infra/k8s/ would try to apply it).
func TestBaseKeepsNATSStreaming(t *testing.T) {
	s := load(t)
	buses, err := s.buses()
	require.NoError(t, err)
	require.Len(t, buses, 1)
	assert.Equal(t, busKindSTAN, buses[0].kind)
	assert.Equal(t, "nats-streaming:0.25.6", buses[0].c.Image)
	assert.Equal(t, "ticketing", buses[0].clusterID)
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		require.True(t, ok, app)
		for _, e := range c.Env {
			switch e.Name {
			case "BUS":
				assert.Equal(t, "stan", e.Value, app)
			case "NATS_URL":
				assert.Equal(t, "nats://nats-srv:4222", e.Value, app)
			case "JETSTREAM_REPLICAS":
				t.Errorf("%s sets JETSTREAM_REPLICAS in the base", app)
			}
		}
	}
	for _, name := range []string{"kustomization.yaml", "kustomization.yml"} {
		_, err := os.Stat(filepath.Join(root, "infra", "k8s", name))
		assert.True(t, os.IsNotExist(err), "infra/k8s/%s must not exist: the base is %s", name, BaseKustomization)
	}
}

// copyOverlayTree copies what LoadOverlay reads: Load's files, the base
// kustomization and the overlays.
func copyOverlayTree(t *testing.T, to string) {
	t.Helper()
	copyTree(t, root, to)
	for _, pattern := range []string{BaseKustomization, "infra/overlays/*/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		require.NotEmpty(t, files, pattern)
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(to, rel), b, 0o644))
		}
	}
}

// edit replaces old by new in a copied file, failing if old is not there.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Contains(t, string(b), old, file)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

func TestEachOverlayCheckFailsOnABrokenCopy(t *testing.T) {
	overlay := ProdOverlay + "/"
	const (
		js         = "production runs NATS JetStream on three servers"
		bus        = "the services are on the bus the manifests run"
		busIngress = "the bus admits its clients, its peers and Prometheus only"
	)
	cases := []struct {
		name, file, old, new string
		check                string // "" when loading itself must fail
	}{
		{"misspelt field in an added object", overlay + "autoscalers.yaml", "maxReplicas: 10", "maxReplica: 10", ""},
		{"unlisted kind", overlay + "jetstream.yaml", "kind: ConfigMap\nmetadata:\n  name: jetstream-config\n  labels:\n    app: jetstream\n    app.kubernetes.io/name: jetstream\n    app.kubernetes.io/component: event-bus\n    app.kubernetes.io/part-of: ticketing\ndata:", "kind: Secret\nmetadata:\n  name: jetstream-config\n  labels:\n    app: jetstream\n    app.kubernetes.io/name: jetstream\n    app.kubernetes.io/component: event-bus\n    app.kubernetes.io/part-of: ticketing\nstringData:", ""},
		{"manifest missing from the base", BaseKustomization, "  - nats-depl.yaml\n", "", ""},
		{"file outside the overlay", overlay + "kustomization.yaml", "  - ../../k8s\n", "  - ../../k8s/auth-depl.yaml\n", ""},
		{"autoscaler below the replicas", overlay + "autoscalers.yaml", "name: orders-hpa", "name: orders-hpa\n  annotations: {}", ""},
		{"autoscaler of one pod", overlay + "autoscalers.yaml", "minReplicas: 3\n  maxReplicas: 10\n  metrics:\n    - type: Resource\n      resource:\n        name: cpu\n        target:\n          type: Utilization\n          averageUtilization: 70\n  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 300\n---", "minReplicas: 1\n  maxReplicas: 10\n  metrics:\n    - type: Resource\n      resource:\n        name: cpu\n        target:\n          type: Utilization\n          averageUtilization: 70\n  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 300\n---", "every service has an autoscaler"},
		{"autoscaler of a missing deployment", overlay + "autoscalers.yaml", "name: auth-depl", "name: auth-deployment", "every service has an autoscaler"},
		{"unscraped pods", overlay + "kustomization.yaml", `prometheus.io/scrape: "true"`, `prometheus.io/scrape: "false"`, "every service is scraped"},
		{"scraped on a closed port", overlay + "kustomization.yaml", `prometheus.io/port: "3000"`, `prometheus.io/port: "9090"`, "every service is scraped"},
		{"host without TLS", overlay + "ingress-tls.yaml", "        - ticketing.dev", "        - www.ticketing.dev", "every ingress host has TLS"},
		{"latest tag", overlay + "kustomization.yaml", "  - name: ticketing/orders\n    newTag: \"1.0.0\"", "  - name: ticketing/orders\n    newTag: latest", "service images carry one pinned tag"},
		{"two tags", overlay + "kustomization.yaml", "  - name: ticketing/orders\n    newTag: \"1.0.0\"", "  - name: ticketing/orders\n    newTag: \"1.0.1\"", "service images carry one pinned tag"},
		{"database without a backup", overlay + "backups.yaml", "--uri=mongodb://payments-mongo-srv:27017/payments", "--uri=mongodb://orders-mongo-srv:27017/payments", "every database is backed up"},
		{"backup without retention", overlay + "backups.yaml", `-mtime +"$RETENTION_DAYS" -delete`, `-mtime +"$RETENTION_DAYS" -print`, "every database is backed up"},
		{"backup the network refuses", overlay + "network-policies.yaml", "app: tickets-mongo-backup", "app: tickets-backup", "every database is backed up"},
		{"backup as root", overlay + "backups.yaml", "runAsUser: 999\n                runAsGroup", "runAsUser: 0\n                runAsGroup", "backup jobs are hardened and bounded"},
		{"service check on the overlay", overlay + "kustomization.yaml", "  - name: auth-depl\n    count: 3", "  - name: auth-depl\n    count: 1", "services run replicated"},
		// The bus.
		{"NATS Streaming kept", overlay + "kustomization.yaml", "  - patch: |-\n      $patch: delete\n      apiVersion: apps/v1\n      kind: StatefulSet\n      metadata:\n        name: nats-depl\n", "", js},
		{"misspelt server setting", overlay + "jetstream.yaml", "max_file_store: 8Gi", "max_file_stor: 8Gi", bus},
		{"config refers to an unset variable", overlay + "jetstream.yaml", "server_name: $SERVER_NAME", "server_name: $NODE_NAME", bus},
		{"one name for every server", overlay + "jetstream.yaml", "server_name: $SERVER_NAME", "server_name: ticketing", js},
		{"two servers", overlay + "jetstream.yaml", "replicas: 3", "replicas: 2", "services run replicated"},
		{"four servers", overlay + "jetstream.yaml", "replicas: 3", "replicas: 4", js},
		{"a route missing", overlay + "jetstream.yaml", "        nats://jetstream-depl-2.jetstream-cluster:6222\n", "", "services run replicated"},
		{"servers started in order", overlay + "jetstream.yaml", "podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady", js},
		{"peers hidden while catching up", overlay + "jetstream.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false", js},
		{"image of another release", overlay + "jetstream.yaml", "image: nats:" + NATSServerVersion + "-alpine", "image: nats:2.10.29-alpine", js},
		{"store larger than its volume", overlay + "jetstream.yaml", "max_file_store: 8Gi", "max_file_store: 12Gi", js},
		{"small volume", overlay + "jetstream.yaml", "storage: 10Gi", "storage: 1Gi", js},
		{"liveness on the full health check", overlay + "jetstream.yaml", "path: /healthz?js-enabled-only=true", "path: /healthz", js},
		{"readiness on JetStream enabled", overlay + "jetstream.yaml", "path: /healthz?js-server-only=true", "path: /healthz?js-enabled-only=true", js},
		{"lame duck longer than the grace", overlay + "jetstream.yaml", "lame_duck_duration: 30s", "lame_duck_duration: 90s", js},
		{"servers on one node", overlay + "jetstream.yaml", "topologyKey: kubernetes.io/hostname", "topologyKey: topology.kubernetes.io/zone", js},
		{"budget of two servers", overlay + "jetstream.yaml", "maxUnavailable: 1", "maxUnavailable: 2", js},
		{"a service left on NATS Streaming", overlay + "bus-jetstream.yaml", "value: jetstream", "value: stan", bus},
		{"one copy of the stream", overlay + "bus-jetstream.yaml", `value: "3"`, `value: "1"`, js},
		{"a server the services do not name", overlay + "bus-jetstream.yaml", ",nats://jetstream-depl-2.jetstream-cluster:4222", "", bus},
		{"a server that is not there", overlay + "bus-jetstream.yaml", "nats://jetstream-depl-2.jetstream-cluster:4222", "nats://jetstream-depl-3.jetstream-cluster:4222", bus},
		{"routes refused", overlay + "jetstream.yaml", "        - protocol: TCP\n          port: 6222", "        - protocol: TCP\n          port: 6223", busIngress},
		{"routes not sent", overlay + "jetstream.yaml", "  egress:\n    - to:\n        - podSelector:\n            matchLabels:\n              app: jetstream\n      ports:\n        - protocol: TCP\n          port: 6222", "  egress:\n    - to:\n        - podSelector:\n            matchLabels:\n              app: jetstream\n      ports:\n        - protocol: TCP\n          port: 6223", "egress is only what each part talks to"},
		{"monitoring port open to Prometheus", overlay + "jetstream.yaml", "          port: 7777", "          port: 8222", busIngress},
		{"metrics open to every pod", overlay + "jetstream.yaml", "        - namespaceSelector:\n            matchLabels:\n              ticketing.dev/monitoring: \"true\"\n      ports:\n        - protocol: TCP\n          port: 7777", "        - podSelector: {}\n      ports:\n        - protocol: TCP\n          port: 7777", busIngress},
		{"services cut off from the bus", overlay + "jetstream.yaml", "              app: jetstream\n      ports:\n        - protocol: TCP\n          port: 4222", "              app: jetstream\n      ports:\n        - protocol: TCP\n          port: 4223", "egress is only what each part talks to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyOverlayTree(t, dir)
			if c.name == "autoscaler below the replicas" {
				// Five replicas against a maximum of four.
				edit(t, dir, overlay+"kustomization.yaml", "  - name: orders-depl\n    count: 3", "  - name: orders-depl\n    count: 11")
				c.check = "every service has an autoscaler"
			} else {
				edit(t, dir, c.file, c.old, c.new)
			}
			s, err := LoadOverlay(dir, ProdOverlay)
			if c.check == "" {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			s.RequiredEnv = required
			for _, check := range append(Checks(), OverlayChecks()...) {
				if check.Name == c.check {
					assert.Error(t, check.Run(s), "the broken copy passes %q", c.check)
					return
				}
			}
			t.Fatalf("no check %q", c.check)
		})
	}
	// And the unbroken copy passes, so the copy itself is faithful.
	dir := t.TempDir()
	copyOverlayTree(t, dir)
	s := loadOverlay(t, dir)
	assert.NoError(t, s.RunOverlay())
}

func TestSkaffoldProdProfileDeploysTheOverlay(t *testing.T) {
	s := load(t)
	var prod map[string]any
	for _, p := range s.Skaffold.Profiles {
		if p["name"] == "prod" {
			prod = p
		}
	}
	require.NotNil(t, prod, "skaffold.yaml has a prod profile")
	m, _ := prod["manifests"].(map[string]any)
	k, _ := m["kustomize"].(map[string]any)
	assert.Equal(t, []any{ProdOverlay}, k["paths"])
	assert.Empty(t, m["rawYaml"], "the profile deploys the overlay alone, not infra/k8s beside it")
}
