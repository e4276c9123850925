package manifests

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ProdOverlay is the production overlay, relative to the repository root.
const ProdOverlay = "infra/overlays/prod"

// overlayKinds are what an overlay may add to allowedKinds: autoscalers,
// the backup jobs with their volumes, and the JetStream servers'
// configuration.
var overlayKinds = map[schema.GroupVersionKind]bool{
	{Group: "", Version: "v1", Kind: "ConfigMap"}:                          true,
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}: true,
	{Group: "batch", Version: "v1", Kind: "CronJob"}:                       true,
	{Group: "", Version: "v1", Kind: "PersistentVolumeClaim"}:              true,
}

// Render builds the kustomization in dir as `kubectl apply -k dir` would
// (kustomize's default, root-only load restrictions) and returns the YAML.
func Render(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	return out, nil
}

// LoadOverlay is Load with the objects of the overlay at root/dir, rendered
// and strictly decoded, in place of infra/k8s's, so that every check runs
// on what production gets. Objects are named "overlay <Kind>/<name>".
func LoadOverlay(root, dir string) (*Set, error) {
	s, err := Load(root)
	if err != nil {
		return nil, err
	}
	if err := baseListsEveryManifest(root); err != nil {
		return nil, err
	}
	out, err := Render(filepath.Join(root, dir))
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	s.Objects = nil
	for i, doc := range splitDocuments(out) {
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", dir, i+1, err)
		}
		if !allowedKinds[*gvk] && !overlayKinds[*gvk] {
			return nil, fmt.Errorf("%s document %d: %s is not an allowed apiVersion/kind", dir, i+1, gvk)
		}
		var meta struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &meta)
		s.Objects = append(s.Objects, Object{File: fmt.Sprintf("overlay %s/%s", gvk.Kind, meta.Metadata.Name), Obj: obj})
	}
	return s, nil
}

// OverlayChecks are the production rules, on top of Checks.
func OverlayChecks() []Check {
	return []Check{
		{"every service has an autoscaler", checkAutoscalers},
		{"every service is scraped", checkScrapeAnnotations},
		{"every ingress host has TLS", checkOverlayIngressTLS},
		{"service images carry one pinned tag", checkImageTags},
		{"every database is backed up", checkBackups},
		{"backup jobs are hardened and bounded", checkBackupHardening},
		{"production runs NATS JetStream on three servers", checkProdJetStream},
	}
}

// RunOverlay runs Checks and OverlayChecks and joins their failures.
func (s *Set) RunOverlay() error {
	var errs []error
	for _, c := range append(Checks(), OverlayChecks()...) {
		if err := c.Run(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Set) autoscalers() []*autoscalingv2.HorizontalPodAutoscaler {
	var out []*autoscalingv2.HorizontalPodAutoscaler
	for _, o := range s.Objects {
		if h, ok := o.Obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			out = append(out, h)
		}
	}
	return out
}

func (s *Set) cronJobs() []*batchv1.CronJob {
	var out []*batchv1.CronJob
	for _, o := range s.Objects {
		if c, ok := o.Obj.(*batchv1.CronJob); ok {
			out = append(out, c)
		}
	}
	return out
}

// checkAutoscalers: each service's Deployment is the target of exactly one
// autoscaler whose range holds the Deployment's replicas and never goes
// below two; every autoscaler targets an existing Deployment.
func checkAutoscalers(s *Set) error {
	var errs []error
	targets := map[string]int{}
	for _, h := range s.autoscalers() {
		ref := h.Spec.ScaleTargetRef
		w, _, ok := s.appContainer(strings.TrimSuffix(ref.Name, "-depl"))
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok || w.name != ref.Name {
			errs = append(errs, fmt.Errorf("autoscaler %s targets %s %s %s, not a service's Deployment", h.Name, ref.APIVersion, ref.Kind, ref.Name))
			continue
		}
		targets[ref.Name]++
		min := int32(1)
		if h.Spec.MinReplicas != nil {
			min = *h.Spec.MinReplicas
		}
		switch {
		case min < 2:
			errs = append(errs, fmt.Errorf("autoscaler %s may scale %s down to %d pod", h.Name, ref.Name, min))
		case w.replicas < min || w.replicas > h.Spec.MaxReplicas:
			errs = append(errs, fmt.Errorf("autoscaler %s (%d–%d) does not hold %s's %d replicas", h.Name, min, h.Spec.MaxReplicas, ref.Name, w.replicas))
		}
		if len(h.Spec.Metrics) == 0 {
			errs = append(errs, fmt.Errorf("autoscaler %s has no metric to scale on", h.Name))
		}
	}
	for _, app := range apps(s) {
		w, _, ok := s.appContainer(app)
		if ok && targets[w.name] != 1 {
			errs = append(errs, fmt.Errorf("%s %s has %d autoscalers, want 1", w.kind, w.name, targets[w.name]))
		}
	}
	return errors.Join(errs...)
}

// checkScrapeAnnotations: each service's pods ask to be scraped on /metrics
// of a port the container opens (the services serve it there).
func checkScrapeAnnotations(s *Set) error {
	var errs []error
	for _, app := range apps(s) {
		w, c, ok := s.appContainer(app)
		if !ok {
			continue
		}
		a := w.pod.Annotations
		port, err := strconv.Atoi(a["prometheus.io/port"])
		opens := slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port })
		switch {
		case a["prometheus.io/scrape"] != "true":
			errs = append(errs, fmt.Errorf("%s %s pods are not annotated prometheus.io/scrape: \"true\"", w.kind, w.name))
		case err != nil || !opens:
			errs = append(errs, fmt.Errorf("%s %s pods are scraped on port %q, which the container does not open", w.kind, w.name, a["prometheus.io/port"]))
		case a["prometheus.io/path"] != "/metrics":
			errs = append(errs, fmt.Errorf("%s %s pods are scraped on %q, not /metrics", w.kind, w.name, a["prometheus.io/path"]))
		}
	}
	return errors.Join(errs...)
}

// checkOverlayIngressTLS: every host an Ingress routes is covered by a TLS entry
// naming its certificate's Secret.
func checkOverlayIngressTLS(s *Set) error {
	var errs []error
	for _, ing := range s.ingresses() {
		covered := map[string]bool{}
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				errs = append(errs, fmt.Errorf("ingress %s has a TLS entry without a secretName", ing.Name))
			}
			for _, h := range t.Hosts {
				covered[h] = true
			}
		}
		for _, r := range ing.Spec.Rules {
			if !covered[r.Host] {
				errs = append(errs, fmt.Errorf("ingress %s serves %q without TLS", ing.Name, r.Host))
			}
		}
	}
	return errors.Join(errs...)
}

// tagRE is a release tag: not latest, not a branch name.
var tagRE = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$|^[0-9a-f]{7,40}$`)

// checkImageTags: every service's image carries an explicit release tag
// (or commit), the same for all, as the overlay's images block sets it.
func checkImageTags(s *Set) error {
	var errs []error
	tags := map[string]bool{}
	for _, app := range apps(s) {
		w, c, ok := s.appContainer(app)
		if !ok {
			continue
		}
		_, tag, found := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
		if !found || !tagRE.MatchString(tag) {
			errs = append(errs, fmt.Errorf("%s %s runs %q: no release tag", w.kind, w.name, c.Image))
			continue
		}
		tags[tag] = true
	}
	if len(tags) > 1 {
		errs = append(errs, fmt.Errorf("the services run different tags %v: set them together in the overlay's images", slices.Sorted(maps.Keys(tags))))
	}
	return errors.Join(errs...)
}

// mongoURIRE finds a mongodump's server.
var mongoURIRE = regexp.MustCompile(`mongodb://([a-z0-9-]+):27017/`)

// checkBackups: every MongoDB StatefulSet's Service is dumped by a CronJob
// onto a PersistentVolumeClaim of the overlay, with a retention, and a
// NetworkPolicy lets the job's pods reach it.
func checkBackups(s *Set) error {
	var errs []error
	claims := map[string]bool{}
	for _, o := range s.Objects {
		if c, ok := o.Obj.(*corev1.PersistentVolumeClaim); ok {
			claims[c.Name] = true
		}
	}
	dumped := map[string]bool{}
	for _, cj := range s.cronJobs() {
		pod := cj.Spec.JobTemplate.Spec.Template
		script := ""
		for _, c := range pod.Spec.Containers {
			script += strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
		}
		m := mongoURIRE.FindStringSubmatch(script)
		if m == nil || !strings.Contains(script, "mongodump") {
			continue
		}
		if !strings.Contains(script, "-delete") {
			errs = append(errs, fmt.Errorf("cronjob %s keeps every dump for ever (no retention)", cj.Name))
		}
		mounted := false
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				if !claims[v.PersistentVolumeClaim.ClaimName] {
					errs = append(errs, fmt.Errorf("cronjob %s writes to claim %s, which is not defined", cj.Name, v.PersistentVolumeClaim.ClaimName))
				}
				mounted = true
			}
		}
		if !mounted {
			errs = append(errs, fmt.Errorf("cronjob %s dumps to no PersistentVolumeClaim", cj.Name))
		}
		if !s.admits(m[1], pod.Labels) {
			errs = append(errs, fmt.Errorf("cronjob %s's pods may not reach %s (no NetworkPolicy admits them)", cj.Name, m[1]))
		}
		dumped[m[1]] = true
	}
	for _, w := range s.workloads() {
		if w.kind == "StatefulSet" && strings.HasSuffix(w.name, "-mongo-depl") {
			if svc := strings.TrimSuffix(w.name, "-depl") + "-srv"; !dumped[svc] {
				errs = append(errs, fmt.Errorf("no cronjob backs up %s (%s)", w.name, svc))
			}
		}
	}
	return errors.Join(errs...)
}

// admits reports whether some NetworkPolicy lets pods labelled from reach
// the pods behind Service svc.
func (s *Set) admits(svc string, from map[string]string) bool {
	var target map[string]string
	for _, v := range s.services() {
		if v.Name == svc {
			target = v.Spec.Selector
		}
	}
	if target == nil {
		return false
	}
	for _, np := range s.overlayNetworkPolicies() {
		if !matches(np.Spec.PodSelector.MatchLabels, target) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.PodSelector != nil && peer.NamespaceSelector == nil && matches(peer.PodSelector.MatchLabels, from) {
					return true
				}
			}
		}
	}
	return false
}

func (s *Set) overlayNetworkPolicies() []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, o := range s.Objects {
		if np, ok := o.Obj.(*networkingv1.NetworkPolicy); ok {
			out = append(out, np)
		}
	}
	return out
}

// matches: every label of sel is in labels.
func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// checkBackupHardening holds the backup jobs' pods to the rules the
// workloads' pods follow (the same check, on the jobs' pod templates).
func checkBackupHardening(s *Set) error {
	jobs := &Set{}
	for _, cj := range s.cronJobs() {
		jobs.Objects = append(jobs.Objects, Object{File: "cronjob " + cj.Name, Obj: &appsv1.Deployment{
			ObjectMeta: cj.ObjectMeta,
			Spec:       appsv1.DeploymentSpec{Template: cj.Spec.JobTemplate.Spec.Template},
		}})
	}
	if err := checkHardening(jobs); err != nil {
		return fmt.Errorf("backup jobs (shown as Deployments): %w", err)
	}
	return nil
}

// BaseKustomization makes infra/k8s the overlays' base. kubectl apply -f
// reads only .yaml, .yml and .json files, so it skips this one.
const BaseKustomization = "infra/k8s/Kustomization"

// baseListsEveryManifest: the base kustomization names every manifest of
// infra/k8s, so production gets what development does.
func baseListsEveryManifest(root string) error {
	data, err := os.ReadFile(filepath.Join(root, BaseKustomization))
	if err != nil {
		return err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %w", BaseKustomization, err)
	}
	files, err := filepath.Glob(filepath.Join(root, "infra", "k8s", "*.y*ml"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if name := filepath.Base(f); !slices.Contains(k.Resources, name) {
			errs = append(errs, fmt.Errorf("%s does not list %s", BaseKustomization, name))
		}
	}
	return errors.Join(errs...)
}
