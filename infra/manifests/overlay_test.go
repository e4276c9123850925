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
		"NetworkPolicy/services-from-prometheus", "Deployment/client-depl", "StatefulSet/nats-depl",
	} {
		assert.Contains(t, names, want)
	}
	w, c, ok := s.appContainer("tickets")
	require.True(t, ok)
	assert.EqualValues(t, 3, w.replicas)
	assert.Equal(t, "ticketing/tickets:1.0.0", c.Image)
	assert.Equal(t, "100m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, 2, disruptionBudget(s, "tickets-pdb").Spec.MinAvailable.IntValue())
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
	cases := []struct {
		name, file, old, new string
		check                string // "" when loading itself must fail
	}{
		{"misspelt field in an added object", overlay + "autoscalers.yaml", "maxReplicas: 10", "maxReplica: 10", ""},
		{"unlisted kind", overlay + "backups.yaml", "kind: PersistentVolumeClaim", "kind: ConfigMap", ""},
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
