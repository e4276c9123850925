package manifests

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Check is one named rule over a Set.
type Check struct {
	Name string
	Run  func(*Set) error
}

// Checks are every rule the manifests must pass.
func Checks() []Check {
	return []Check{
		{"service selectors match workloads", checkSelectors},
		{"ingress backends exist", checkIngress},
		{"required env is set", checkRequiredEnv},
		{"only the documented secrets", checkSecrets},
		{"probes match what the service serves", checkProbes},
		{"skaffold artifacts are deployed and built", checkSkaffold},
		{"containers are hardened and bounded", checkHardening},
		{"recommended labels", checkLabels},
		{"services run replicated", checkReplicas},
		{"one disruption budget per service", checkDisruptionBudgets},
		{"egress is only what each part talks to", checkEgress},
		{"the services are on the bus the manifests run", checkBus},
		{"the bus admits its clients, its peers and Prometheus only", checkBusIngress},
		{"infrastructure images pinned to exact versions", checkPinnedImages},
		{"no monitoring port on a service", checkServicePorts},
		{"the ingress serves TLS", checkIngressTLS},
	}
}

// Run runs every check and joins their failures.
func (s *Set) Run() error {
	var errs []error
	for _, c := range Checks() {
		if err := c.Run(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkSelectors: every Service selects some workload's pods, and each of
// its target ports is a port those pods' containers open.
func checkSelectors(s *Set) error {
	var errs []error
	for _, svc := range s.services() {
		if len(svc.Spec.Selector) == 0 {
			errs = append(errs, fmt.Errorf("service %s has no selector", svc.Name))
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var matched []workload
		for _, w := range s.workloads() {
			if sel.Matches(labels.Set(w.pod.Labels)) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			errs = append(errs, fmt.Errorf("service %s selects no workload (selector %v)", svc.Name, svc.Spec.Selector))
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, w := range matched {
				if !podOpens(w.pod.Spec, p.TargetPort, p.Port) {
					errs = append(errs, fmt.Errorf("service %s port %d targets %s, which %s %s does not open", svc.Name, p.Port, p.TargetPort.String(), w.kind, w.name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func podOpens(pod corev1.PodSpec, target intstr.IntOrString, port int32) bool {
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			switch {
			case target.Type == intstr.String && target.StrVal == cp.Name,
				target.Type == intstr.Int && target.IntVal == cp.ContainerPort,
				target.Type == intstr.Int && target.IntVal == 0 && port == cp.ContainerPort:
				return true
			}
		}
	}
	return false
}

// checkIngress: every Ingress backend is an existing Service and port.
func checkIngress(s *Set) error {
	var errs []error
	ports := map[string][]int32{}
	for _, svc := range s.services() {
		for _, p := range svc.Spec.Ports {
			ports[svc.Name] = append(ports[svc.Name], p.Port)
		}
	}
	for _, ing := range s.ingresses() {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil {
					errs = append(errs, fmt.Errorf("ingress %s path %s has no service backend", ing.Name, p.Path))
					continue
				}
				have, ok := ports[b.Name]
				if !ok {
					errs = append(errs, fmt.Errorf("ingress %s path %s: no service %s", ing.Name, p.Path, b.Name))
				} else if !slices.Contains(have, b.Port.Number) {
					errs = append(errs, fmt.Errorf("ingress %s path %s: service %s has no port %d", ing.Name, p.Path, b.Name, b.Port.Number))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkRequiredEnv: every variable a service refuses to start without is
// set in its container, NATS_CLIENT_ID is the pod's name (unique per pod,
// as STAN requires), and the session cookie is Secure behind HTTPS.
func checkRequiredEnv(s *Set) error {
	if s.RequiredEnv == nil {
		return errors.New("the services' required variables were not collected")
	}
	var errs []error
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		if !ok {
			errs = append(errs, fmt.Errorf("no container runs %s%s", appImagePrefix, app))
			continue
		}
		set := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			set[e.Name] = e
		}
		for _, name := range s.RequiredEnv[app] {
			if _, ok := set[name]; !ok {
				errs = append(errs, fmt.Errorf("%s requires %s, which its container does not set", app, name))
			}
		}
		if e, ok := set["NATS_CLIENT_ID"]; ok && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name") {
			errs = append(errs, fmt.Errorf("%s: NATS_CLIENT_ID must come from metadata.name", app))
		}
		if e, ok := set["COOKIE_SECURE"]; ok && e.Value != "true" {
			errs = append(errs, fmt.Errorf("%s: COOKIE_SECURE must be true behind the HTTPS ingress", app))
		}
	}
	return errors.Join(errs...)
}

// documentedSecrets are the two secrets the README tells people to create.
var documentedSecrets = map[string]string{"jwt-secret": "JWT_KEY", "stripe-secret": "STRIPE_KEY"}

// checkSecrets: secrets are referenced only as documented, and both are used.
func checkSecrets(s *Set) error {
	var errs []error
	used := map[string]bool{}
	for _, w := range s.workloads() {
		for _, c := range w.pod.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if key, ok := documentedSecrets[ref.Name]; !ok || key != ref.Key || e.Name != key {
					errs = append(errs, fmt.Errorf("%s %s sets %s from secret %s/%s, which is not documented", w.kind, w.name, e.Name, ref.Name, ref.Key))
				}
				used[ref.Name] = true
			}
			if len(c.EnvFrom) > 0 {
				errs = append(errs, fmt.Errorf("%s %s uses envFrom; name each variable", w.kind, w.name))
			}
		}
	}
	for name := range documentedSecrets {
		if !used[name] {
			errs = append(errs, fmt.Errorf("secret %s is documented but not used", name))
		}
	}
	return errors.Join(errs...)
}

// checkProbes: each service's readiness probe asks /readyz and its liveness
// probe /healthz, on the port it listens on (PORT, default 3000), and its
// routes.go serves both.
func checkProbes(s *Set) error {
	var errs []error
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		if !ok {
			continue // reported by checkRequiredEnv
		}
		port := "3000"
		for _, e := range c.Env {
			if e.Name == "PORT" {
				port = e.Value
			}
		}
		opens := slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == port })
		if !opens {
			errs = append(errs, fmt.Errorf("%s listens on %s but declares no such containerPort", app, port))
		}
		for _, p := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
			switch {
			case p.probe == nil || p.probe.HTTPGet == nil:
				errs = append(errs, fmt.Errorf("%s has no HTTP %s probe", app, p.kind))
			case p.probe.HTTPGet.Path != p.path:
				errs = append(errs, fmt.Errorf("%s %s probe asks %s, want %s", app, p.kind, p.probe.HTTPGet.Path, p.path))
			case p.probe.HTTPGet.Port.String() != port:
				errs = append(errs, fmt.Errorf("%s %s probe asks port %s, but it listens on %s", app, p.kind, p.probe.HTTPGet.Port.String(), port))
			}
			if !servesProbe(s.Routes[app], p.path) {
				errs = append(errs, fmt.Errorf("%s/routes.go does not serve %s", app, p.path))
			}
		}
	}
	return errors.Join(errs...)
}

// servesProbe reports whether a routes.go serves path: itself, or through
// service.NewRouter, which serves /healthz and /readyz (its own tests say so).
func servesProbe(routes, path string) bool {
	return strings.Contains(routes, fmt.Sprintf("r.Get(%q", path)) || strings.Contains(routes, "service.NewRouter(")
}

var (
	exposeRe  = regexp.MustCompile(`(?m)^EXPOSE\s+(\d+)`)
	golangRe  = regexp.MustCompile(`(?m)^FROM\s+golang:(\S+?)(-\S+)?\s+AS\s+build`)
	finalRe   = regexp.MustCompile(`(?m)^FROM\s+(\S+)\s*$`)
	cgoOffRe  = regexp.MustCompile(`CGO_ENABLED=0`)
	nonRootRe = regexp.MustCompile(`(?m)^USER\s+(nonroot|65532)`)
	// serviceArgRe: the build stage takes the service to build as an arg.
	serviceArgRe = regexp.MustCompile(`(?m)^ARG\s+SERVICE\s*$`)
)

// checkSkaffold: the config is current, builds locally without pushing,
// deploys infra/k8s; each artifact's image runs in some manifest, its
// build arg SERVICE names that image's service, and its Dockerfile takes
// that arg, builds statically with the workspace's Go and exposes the port
// the manifest's container opens, on a non-root final image. Every image
// of the project's a manifest runs is built by an artifact.
func checkSkaffold(s *Set) error {
	var errs []error
	sk := s.Skaffold
	if !strings.HasPrefix(sk.APIVersion, "skaffold/v4beta") || sk.Kind != "Config" {
		errs = append(errs, fmt.Errorf("skaffold.yaml is %s %s, want skaffold/v4beta* Config", sk.APIVersion, sk.Kind))
	}
	if sk.Build.Local.Push == nil || *sk.Build.Local.Push {
		errs = append(errs, errors.New("skaffold build.local.push must be false"))
	}
	if !slices.Contains(sk.Manifests.RawYaml, "infra/k8s/*") {
		errs = append(errs, errors.New("skaffold manifests.rawYaml must include infra/k8s/*"))
	}
	built := map[string]bool{}
	for _, a := range sk.Build.Artifacts {
		built[a.Image] = true
		app := strings.TrimPrefix(a.Image, appImagePrefix)
		_, c, ok := s.appContainer(app)
		if !ok {
			errs = append(errs, fmt.Errorf("artifact %s is not used by any manifest", a.Image))
			continue
		}
		if a.Context != "." {
			errs = append(errs, fmt.Errorf("artifact %s: context must be the repository root, for common/", a.Image))
		}
		if got := a.Docker.BuildArgs["SERVICE"]; got != app {
			errs = append(errs, fmt.Errorf("artifact %s builds SERVICE=%q, want %q", a.Image, got, app))
		}
		df := s.Dockerfiles[a.Docker.Dockerfile]
		if !serviceArgRe.MatchString(df) {
			errs = append(errs, fmt.Errorf("%s must take the service to build as ARG SERVICE", a.Docker.Dockerfile))
		}
		exposed := map[string]bool{}
		for _, m := range exposeRe.FindAllStringSubmatch(df, -1) {
			exposed[m[1]] = true
		}
		for _, p := range c.Ports {
			if !exposed[strconv.Itoa(int(p.ContainerPort))] {
				errs = append(errs, fmt.Errorf("%s does not EXPOSE %d, the port its container opens", a.Docker.Dockerfile, p.ContainerPort))
			}
		}
		if m := golangRe.FindStringSubmatch(df); m == nil || m[1] != s.Toolchain {
			errs = append(errs, fmt.Errorf("%s must build FROM golang:%s (go.work's toolchain) AS build", a.Docker.Dockerfile, s.Toolchain))
		}
		finals := finalRe.FindAllStringSubmatch(df, -1)
		if len(finals) == 0 || !strings.HasPrefix(finals[len(finals)-1][1], "gcr.io/distroless/static") || !strings.HasSuffix(finals[len(finals)-1][1], ":nonroot") {
			errs = append(errs, fmt.Errorf("%s: the final stage must be distroless static :nonroot", a.Docker.Dockerfile))
		}
		if !cgoOffRe.MatchString(df) {
			errs = append(errs, fmt.Errorf("%s must build with CGO_ENABLED=0", a.Docker.Dockerfile))
		}
		if !nonRootRe.MatchString(df) {
			errs = append(errs, fmt.Errorf("%s must switch to a non-root USER", a.Docker.Dockerfile))
		}
	}
	for _, w := range s.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if name := imageName(c.Image); strings.HasPrefix(name, appImagePrefix) && !built[name] {
				errs = append(errs, fmt.Errorf("%s %s runs %s, which no skaffold artifact builds", w.kind, w.name, name))
			}
		}
	}
	return errors.Join(errs...)
}

// checkHardening: no container may run as root, escalate, write its root
// filesystem, keep capabilities, run without seccomp, or run unbounded.
func checkHardening(s *Set) error {
	var errs []error
	for _, w := range s.workloads() {
		if w.pod.Spec.HostNetwork || w.pod.Spec.HostPID || w.pod.Spec.HostIPC {
			errs = append(errs, fmt.Errorf("%s %s shares a host namespace", w.kind, w.name))
		}
		if w.pod.Spec.AutomountServiceAccountToken == nil || *w.pod.Spec.AutomountServiceAccountToken {
			errs = append(errs, fmt.Errorf("%s %s mounts a service account token it does not need", w.kind, w.name))
		}
		for _, c := range append(w.pod.Spec.InitContainers, w.pod.Spec.Containers...) {
			where := fmt.Sprintf("%s %s container %s", w.kind, w.name, c.Name)
			sc := c.SecurityContext
			switch {
			case sc == nil:
				errs = append(errs, fmt.Errorf("%s has no securityContext", where))
				continue
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				errs = append(errs, fmt.Errorf("%s may run as root (runAsNonRoot)", where))
			case sc.RunAsUser != nil && *sc.RunAsUser == 0:
				errs = append(errs, fmt.Errorf("%s runs as user 0", where))
			}
			if sc.Privileged != nil && *sc.Privileged {
				errs = append(errs, fmt.Errorf("%s is privileged", where))
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				errs = append(errs, fmt.Errorf("%s allows privilege escalation", where))
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				errs = append(errs, fmt.Errorf("%s has a writable root filesystem", where))
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				errs = append(errs, fmt.Errorf("%s must drop ALL capabilities and add none", where))
			}
			if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				errs = append(errs, fmt.Errorf("%s has no RuntimeDefault seccomp profile", where))
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Limits[r]; !ok {
					errs = append(errs, fmt.Errorf("%s has no %s limit", where, r))
				}
				if _, ok := c.Resources.Requests[r]; !ok {
					errs = append(errs, fmt.Errorf("%s has no %s request", where, r))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// recommendedLabels are set on every workload and its pods.
var recommendedLabels = []string{"app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"}

func checkLabels(s *Set) error {
	var errs []error
	for _, w := range s.workloads() {
		for _, l := range recommendedLabels {
			if w.labels[l] == "" {
				errs = append(errs, fmt.Errorf("%s %s has no label %s", w.kind, w.name, l))
			}
			if w.pod.Labels[l] == "" {
				errs = append(errs, fmt.Errorf("%s %s's pods have no label %s", w.kind, w.name, l))
			}
		}
	}
	return errors.Join(errs...)
}

// minServiceReplicas is how many pods each service runs, so that one can be
// lost or drained while the other serves (docs/CONTRACT.md §5: every guarantee holds
// at two replicas).
const minServiceReplicas = 2

// checkReplicas: each service runs as a Deployment of at least
// minServiceReplicas pods; the StatefulSets (MongoDB, NATS Streaming, Redis)
// run one, since a second pod would be a second, separate store behind the
// same Service, unless the StatefulSet is a NATS JetStream cluster (see
// checkNATSCluster: its servers route to each other and replicate). In a replicated workload
// every NATS_CLIENT_ID is the pod's own name: STAN drops a client whose id
// another connection takes over.
func checkReplicas(s *Set) error {
	var errs []error
	for _, app := range apps(s) {
		w, _, ok := s.appContainer(app)
		if !ok {
			continue // reported by checkRequiredEnv
		}
		if w.kind != "Deployment" {
			errs = append(errs, fmt.Errorf("%s runs as %s %s, want a Deployment", app, w.kind, w.name))
		}
		if w.replicas < minServiceReplicas {
			errs = append(errs, fmt.Errorf("%s %s runs %d replica(s), want at least %d", w.kind, w.name, w.replicas, minServiceReplicas))
		}
	}
	for _, w := range s.workloads() {
		if w.kind == "StatefulSet" && w.replicas != 1 {
			if err := s.clusterOf(w); err != nil {
				errs = append(errs, fmt.Errorf("StatefulSet %s runs %d replicas, want 1: it is not set up as a cluster (%w)", w.name, w.replicas, err))
			}
		}
		if w.replicas < 2 {
			continue
		}
		for _, c := range append(w.pod.Spec.InitContainers, w.pod.Spec.Containers...) {
			for _, e := range c.Env {
				if e.Name == "NATS_CLIENT_ID" && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name") {
					errs = append(errs, fmt.Errorf("%s %s runs %d replicas but container %s's NATS_CLIENT_ID does not come from metadata.name, so they would share it", w.kind, w.name, w.replicas, c.Name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkDisruptionBudgets: every PodDisruptionBudget selects the pods of
// exactly one workload and lets a voluntary disruption take at least one of
// them but not all (a budget that allows none blocks every node drain);
// every service's Deployment is covered by exactly one budget (the eviction
// API refuses a pod that two budgets select).
func checkDisruptionBudgets(s *Set) error {
	var errs []error
	covered := map[string][]string{} // workload name → the budgets selecting its pods
	for _, pdb := range s.disruptionBudgets() {
		if pdb.Spec.Selector == nil {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s has no selector, so it selects no pods", pdb.Name))
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: %w", pdb.Name, err))
			continue
		}
		var matched []workload
		for _, w := range s.workloads() {
			if sel.Matches(labels.Set(w.pod.Labels)) {
				matched = append(matched, w)
				covered[w.name] = append(covered[w.name], pdb.Name)
			}
		}
		switch {
		case len(matched) == 0:
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s selects no workload (selector %s)", pdb.Name, sel))
			continue
		case len(matched) > 1:
			var names []string
			for _, w := range matched {
				names = append(names, w.name)
			}
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s selects the pods of %d workloads (%s), want one", pdb.Name, len(matched), strings.Join(names, ", ")))
			continue
		}
		if err := budgetAllowsOneEviction(pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, matched[0].replicas); err != nil {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s over %s %s: %w", pdb.Name, matched[0].kind, matched[0].name, err))
		}
	}
	for _, app := range apps(s) {
		w, _, ok := s.appContainer(app)
		if !ok {
			continue // reported by checkRequiredEnv
		}
		switch n := len(covered[w.name]); {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s %s has no PodDisruptionBudget", w.kind, w.name))
		case n > 1:
			errs = append(errs, fmt.Errorf("%s %s is selected by %d PodDisruptionBudgets (%s): the eviction API refuses its pods", w.kind, w.name, n, strings.Join(covered[w.name], ", ")))
		}
	}
	return errors.Join(errs...)
}

// budgetAllowsOneEviction reports whether a budget over replicas pods keeps
// at least one available and lets at least one go, rounding percentages up
// as the disruption controller does.
func budgetAllowsOneEviction(minAvailable, maxUnavailable *intstr.IntOrString, replicas int32) error {
	var available int
	switch {
	case minAvailable != nil && maxUnavailable != nil:
		return errors.New("sets both minAvailable and maxUnavailable")
	case minAvailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(replicas), true)
		if err != nil {
			return fmt.Errorf("minAvailable: %w", err)
		}
		available = n
	case maxUnavailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(replicas), true)
		if err != nil {
			return fmt.Errorf("maxUnavailable: %w", err)
		}
		available = int(replicas) - n
	default:
		return errors.New("sets neither minAvailable nor maxUnavailable")
	}
	switch {
	case available < 1:
		return fmt.Errorf("keeps %d of %d pods available, want at least 1", available, replicas)
	case available >= int(replicas):
		return fmt.Errorf("keeps %d of %d pods available, so no pod may ever be evicted", available, replicas)
	}
	return nil
}
