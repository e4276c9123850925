package manifests

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The bus is the workload labelled app.kubernetes.io/component=event-bus:
// NATS Streaming (the base, as the original runs it) or a NATS JetStream
// cluster (production). docs/CONTRACT.md §3a: the services pick it with
// BUS (stan, the default, or jetstream) and name it with NATS_URL.
const (
	busComponent      = "event-bus"
	streamingImage    = "nats-streaming"
	jetstreamImage    = "nats"
	busKindSTAN       = "stan"
	busKindJetStream  = "jetstream"
	clientPortName    = "client"
	clusterPortName   = "cluster"
	monitoringNSLabel = "ticketing.dev/monitoring=true"
)

// NATSServerVersion is the nats-server release whose own parser reads the
// JetStream configuration here (the module's dependency): the image must
// run the same release, so what is checked is what runs.
var NATSServerVersion = server.VERSION

// busServer is one bus workload and what it runs.
type busServer struct {
	w workload
	c corev1.Container
	// kind is busKindSTAN or busKindJetStream.
	kind string
	// clusterID is NATS Streaming's -cid.
	clusterID string
	// opts is a JetStream server's configuration as its first pod reads it.
	opts *server.Options
}

// pods names the workload's pods: a StatefulSet's are <name>-<ordinal>.
func (b busServer) pods() []string {
	var out []string
	for i := range b.w.replicas {
		out = append(out, fmt.Sprintf("%s-%d", b.w.name, i))
	}
	return out
}

// port is the container port of that name, 0 if none.
func (b busServer) port(name string) int32 {
	for _, p := range b.c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// buses finds every bus workload, with the NATS container it runs and, for
// JetStream, its configuration parsed by nats-server.
func (s *Set) buses() ([]busServer, error) {
	var out []busServer
	var errs []error
	for _, w := range s.workloads() {
		if w.labels["app.kubernetes.io/component"] != busComponent {
			continue
		}
		found := false
		for _, c := range w.pod.Spec.Containers {
			b := busServer{w: w, c: c}
			switch imageName(c.Image) {
			case streamingImage:
				b.kind = busKindSTAN
				b.clusterID = flagValue(c.Args, "-cid", "--cluster_id")
			case jetstreamImage:
				b.kind = busKindJetStream
				opts, err := s.natsConfig(w, c)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", w.kind, w.name, err))
					continue
				}
				b.opts = opts
			default:
				continue
			}
			found = true
			out = append(out, b)
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s %s is labelled %s but runs neither %s nor %s", w.kind, w.name, busComponent, streamingImage, jetstreamImage))
		}
	}
	return out, errors.Join(errs...)
}

// flagValue is the value after the first of names in args ("-cid x"), or
// of "name=x".
func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

var varRe = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`)

// natsConfig reads the file a nats container's --config names from the
// ConfigMap mounted there, puts in the container's environment as the
// first pod sees it (a metadata.name reference is the pod's name), and
// parses it with nats-server's own parser, which refuses unknown fields
// and wrong types.
func (s *Set) natsConfig(w workload, c corev1.Container) (*server.Options, error) {
	file := flagValue(c.Args, "--config", "-c")
	if file == "" {
		return nil, fmt.Errorf("container %s runs nats-server without --config", c.Name)
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == path.Dir(file) {
			volume = m.Name
		}
	}
	var cmName string
	for _, v := range w.pod.Spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if cmName == "" {
		return nil, fmt.Errorf("container %s: no ConfigMap is mounted at %s for --config %s", c.Name, path.Dir(file), file)
	}
	var text string
	found := false
	for _, cm := range s.configMaps() {
		if cm.Name == cmName {
			text, found = cm.Data[path.Base(file)]
		}
	}
	if !found {
		return nil, fmt.Errorf("container %s: ConfigMap %s has no key %s", c.Name, cmName, path.Base(file))
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = w.name + "-0"
		}
	}
	var missing []string
	text = varRe.ReplaceAllStringFunc(text, func(ref string) string {
		if v, ok := env[ref[1:]]; ok {
			return strconv.Quote(v)
		}
		missing = append(missing, ref)
		return ref
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("ConfigMap %s's %s refers to %s, which container %s does not set", cmName, path.Base(file), strings.Join(missing, ", "), c.Name)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(text); err != nil {
		return nil, fmt.Errorf("ConfigMap %s's %s: %w", cmName, path.Base(file), err)
	}
	return opts, nil
}

// checkNATSCluster: a JetStream StatefulSet of more than one server is a
// cluster: an odd number of at least three (a RAFT quorum survives one
// loss), started together (podManagementPolicy Parallel: the startup probe
// waits for a quorum), a headless Service that publishes not-ready pods
// (peers must reach a server that is still catching up), and a config
// whose cluster has a name, listens on the container's cluster port and
// routes to every server by its stable name, <pod>.<headless
// Service>:<port>, and nothing else.
func (s *Set) checkNATSCluster(b busServer) error {
	if b.kind != busKindJetStream || b.w.sts == nil {
		return fmt.Errorf("%s %s is not a NATS JetStream StatefulSet", b.w.kind, b.w.name)
	}
	var errs []error
	if b.w.replicas < 3 || b.w.replicas%2 == 0 {
		errs = append(errs, fmt.Errorf("a cluster of %d servers: want an odd number, at least 3", b.w.replicas))
	}
	if b.w.sts.Spec.PodManagementPolicy != "Parallel" {
		errs = append(errs, errors.New("podManagementPolicy is not Parallel: pod 0 would wait for a quorum that needs the pods after it"))
	}
	headless := b.w.sts.Spec.ServiceName
	svc := serviceNamed(s, headless)
	switch {
	case svc == nil:
		errs = append(errs, fmt.Errorf("its serviceName %q is no Service", headless))
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		errs = append(errs, fmt.Errorf("service %s is not headless (clusterIP: None): pods get no stable names", headless))
	case !svc.Spec.PublishNotReadyAddresses:
		errs = append(errs, fmt.Errorf("service %s hides pods that are not ready, so a server catching up cannot be reached by its peers", headless))
	case !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(b.w.pod.Labels)) || len(svc.Spec.Selector) == 0:
		errs = append(errs, fmt.Errorf("service %s does not select its pods", headless))
	}
	o := b.opts
	port := b.port(clusterPortName)
	if o.Cluster.Name == "" {
		errs = append(errs, errors.New("the config's cluster has no name"))
	}
	if port == 0 || int32(o.Cluster.Port) != port {
		errs = append(errs, fmt.Errorf("the config's cluster listens on %d, the container's %q port is %d", o.Cluster.Port, clusterPortName, port))
	}
	var want, got []string
	for _, p := range b.pods() {
		want = append(want, fmt.Sprintf("nats://%s.%s:%d", p, headless, port))
	}
	for _, r := range o.Routes {
		got = append(got, r.String())
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("the config routes to %v, want every server: %v", got, want))
	}
	return errors.Join(errs...)
}

func serviceNamed(s *Set, name string) *corev1.Service {
	for _, v := range s.services() {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// resolve names the bus pods a host of NATS_URL reaches: one pod by its
// stable name (<pod>.<headless Service>), or every pod a Service selects,
// provided port reaches the servers' client port.
func (s *Set) resolve(b busServer, host string, port int32) ([]string, error) {
	client := b.port(clientPortName)
	if b.w.sts != nil {
		if pod, svc, ok := strings.Cut(host, "."); ok && svc == b.w.sts.Spec.ServiceName {
			if !slices.Contains(b.pods(), pod) {
				return nil, fmt.Errorf("%s is no pod of %s %s (%d replicas)", pod, b.w.kind, b.w.name, b.w.replicas)
			}
			if port != client {
				return nil, fmt.Errorf("%s: port %d is not the servers' client port %d", host, port, client)
			}
			return []string{pod}, nil
		}
	}
	svc := serviceNamed(s, host)
	if svc == nil || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(b.w.pod.Labels)) {
		return nil, fmt.Errorf("%s is neither a server of %s nor a Service selecting its pods", host, b.w.name)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port && (p.TargetPort.IntValue() == int(client) || p.TargetPort.StrVal == clientPortName || (p.TargetPort.IntValue() == 0 && p.TargetPort.StrVal == "" && port == client)) {
			return b.pods(), nil
		}
	}
	return nil, fmt.Errorf("service %s has no port %d to the servers' client port %d", host, port, client)
}

// checkBus: every service is on the one bus the manifests run, and finds
// it. BUS is stan (or unset) or jetstream, the same for all. On NATS
// Streaming, NATS_URL is one server through a Service and NATS_CLUSTER_ID
// is the server's -cid. On JetStream, NATS_URL's comma-separated servers
// reach every server of the cluster (by stable name or through a Service),
// on the client port the config listens on, and JETSTREAM_REPLICAS asks
// for no more copies than there are servers.
func checkBus(s *Set) error {
	buses, err := s.buses()
	if err != nil {
		return err
	}
	var errs []error
	byKind := map[string][]busServer{}
	for _, b := range buses {
		byKind[b.kind] = append(byKind[b.kind], b)
		if b.kind == busKindJetStream {
			if int32(b.opts.Port) != b.port(clientPortName) || b.port(clientPortName) == 0 {
				errs = append(errs, fmt.Errorf("%s %s: the config listens for clients on %d, the container's %q port is %d", b.w.kind, b.w.name, b.opts.Port, clientPortName, b.port(clientPortName)))
			}
			if !b.opts.JetStream {
				errs = append(errs, fmt.Errorf("%s %s runs nats-server without JetStream", b.w.kind, b.w.name))
			}
		}
	}
	kinds := map[string]bool{}
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		if !ok {
			continue // reported by checkRequiredEnv
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		kind := env["BUS"]
		if kind == "" {
			kind = busKindSTAN
		}
		kinds[kind] = true
		if kind != busKindSTAN && kind != busKindJetStream {
			errs = append(errs, fmt.Errorf("%s: BUS=%q, want %s or %s", app, kind, busKindSTAN, busKindJetStream))
			continue
		}
		if len(byKind[kind]) != 1 {
			errs = append(errs, fmt.Errorf("%s is on BUS=%s, but the manifests run %d such bus", app, kind, len(byKind[kind])))
			continue
		}
		b := byKind[kind][0]
		reached := map[string]bool{}
		urls := strings.Split(env["NATS_URL"], ",")
		if kind == busKindSTAN && len(urls) != 1 {
			errs = append(errs, fmt.Errorf("%s: NATS_URL lists %d servers; NATS Streaming takes one", app, len(urls)))
		}
		for _, raw := range urls {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Scheme != "nats" || u.Port() == "" {
				errs = append(errs, fmt.Errorf("%s: NATS_URL %q: want nats://host:port", app, raw))
				continue
			}
			port, _ := strconv.Atoi(u.Port())
			pods, err := s.resolve(b, u.Hostname(), int32(port))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: NATS_URL %s: %w", app, net.JoinHostPort(u.Hostname(), u.Port()), err))
			}
			for _, p := range pods {
				reached[p] = true
			}
		}
		for _, p := range b.pods() {
			if !reached[p] {
				errs = append(errs, fmt.Errorf("%s: NATS_URL reaches no server %s, so it cannot fail over to it", app, p))
			}
		}
		switch kind {
		case busKindSTAN:
			if env["NATS_CLUSTER_ID"] != b.clusterID {
				errs = append(errs, fmt.Errorf("%s: NATS_CLUSTER_ID=%q, the server's -cid is %q", app, env["NATS_CLUSTER_ID"], b.clusterID))
			}
		case busKindJetStream:
			if r, ok := env["JETSTREAM_REPLICAS"]; ok {
				n, err := strconv.Atoi(r)
				if err != nil || n < 1 || int32(n) > b.w.replicas {
					errs = append(errs, fmt.Errorf("%s: JETSTREAM_REPLICAS=%q, want 1 to %d (the servers)", app, r, b.w.replicas))
				}
			}
		}
	}
	if len(kinds) > 1 {
		errs = append(errs, fmt.Errorf("the services are on different buses %v", slices.Sorted(maps.Keys(kinds))))
	}
	return errors.Join(errs...)
}

// checkBusIngress: what may reach a bus server is exactly every service on
// the client port, a cluster's own servers on the cluster port, and
// Prometheus (a namespace labelled ticketing.dev/monitoring=true) on the
// port the pods are scraped on, when they are; nothing else.
func checkBusIngress(s *Set) error {
	buses, err := s.buses()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range buses {
		want := map[string]bool{}
		for _, app := range apps(s) {
			if w, _, ok := s.appContainer(app); ok {
				want[fmt.Sprintf("%s:%d/TCP", w.name, b.port(clientPortName))] = true
			}
		}
		if b.w.replicas > 1 {
			want[fmt.Sprintf("%s:%d/TCP", b.w.name, b.port(clusterPortName))] = true
		}
		if b.w.pod.Annotations["prometheus.io/scrape"] == "true" {
			want[fmt.Sprintf("namespace(%s):%s/TCP", monitoringNSLabel, b.w.pod.Annotations["prometheus.io/port"])] = true
		}
		got, restricted, err := s.ingressOf(b.w)
		if err != nil {
			errs = append(errs, err)
		}
		if !restricted {
			errs = append(errs, fmt.Errorf("%s %s admits anyone: no Ingress policy selects its pods", b.w.kind, b.w.name))
			continue
		}
		for _, d := range slices.Sorted(maps.Keys(want)) {
			if !got[d] {
				errs = append(errs, fmt.Errorf("%s %s does not admit %s, which must reach it", b.w.kind, b.w.name, d))
			}
		}
		for _, d := range slices.Sorted(maps.Keys(got)) {
			if !want[d] {
				errs = append(errs, fmt.Errorf("%s %s admits %s, which has no business there", b.w.kind, b.w.name, d))
			}
		}
	}
	return errors.Join(errs...)
}

// governsIngress reports whether a policy of these types restricts its
// pods' ingress (without policyTypes, the API server sets Ingress).
func governsIngress(types []networkingv1.PolicyType) bool {
	return len(types) == 0 || slices.Contains(types, networkingv1.PolicyTypeIngress)
}

// clusterOf checks that StatefulSet w runs a NATS JetStream cluster.
func (s *Set) clusterOf(w workload) error {
	buses, err := s.buses()
	if err != nil {
		return err
	}
	for _, b := range buses {
		if b.w.name == w.name {
			return s.checkNATSCluster(b)
		}
	}
	return errors.New("it runs no NATS JetStream server")
}

// ingressOf is every source the policies selecting w's pods admit, as
// "<workload or namespace(...)>:<port>/<protocol>", and whether any
// Ingress policy selects them at all.
func (s *Set) ingressOf(w workload) (map[string]bool, bool, error) { return s.allowedOf(w, false) }

// jetstreamProbes are the NATS Helm chart's: started once the server has
// caught up with the cluster and its streams (/healthz), alive while
// JetStream is on, ready while the server answers.
var jetstreamProbes = []struct{ kind, path string }{
	{"startup", "/healthz"},
	{"liveness", "/healthz?js-enabled-only=true"},
	{"readiness", "/healthz?js-server-only=true"},
}

// Production's bus, as docs/CONTRACT.md §3a and §6 set it.
const (
	prodBusServers      = 3
	prodBusStorage      = "10Gi"
	prodMaxStoreOfClaim = 0.9 // max_file_store leaves a tenth of the PVC free
)

// checkProdJetStream: production runs no NATS Streaming, and one NATS
// JetStream cluster of three servers, each the image of the nats-server
// release that parsed its config, with JetStream storing files on its own
// PVC of 10Gi (max_file_store below it), probed as the Helm chart does on
// the monitoring port, named from its pod, moved off in lame duck mode
// within the grace period, one per node, under a budget of one server
// down; and every service on it with the stream at three copies.
func checkProdJetStream(s *Set) error {
	buses, err := s.buses()
	if err != nil {
		return err
	}
	var errs []error
	var js []busServer
	for _, b := range buses {
		if b.kind == busKindSTAN {
			errs = append(errs, fmt.Errorf("%s %s runs NATS Streaming in production", b.w.kind, b.w.name))
			continue
		}
		js = append(js, b)
	}
	if len(js) != 1 {
		return errors.Join(append(errs, fmt.Errorf("production runs %d JetStream clusters, want 1", len(js)))...)
	}
	b := js[0]
	where := fmt.Sprintf("%s %s", b.w.kind, b.w.name)
	if b.w.sts == nil {
		return errors.Join(append(errs, fmt.Errorf("%s: want a StatefulSet (each server keeps its own store)", where))...)
	}
	if b.w.replicas != prodBusServers {
		errs = append(errs, fmt.Errorf("%s runs %d servers, want %d", where, b.w.replicas, prodBusServers))
	}
	if err := s.checkNATSCluster(b); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	if tag := strings.TrimPrefix(b.c.Image, imageName(b.c.Image)+":"); tag != NATSServerVersion && !strings.HasPrefix(tag, NATSServerVersion+"-") {
		errs = append(errs, fmt.Errorf("%s runs %s, but its config is checked by nats-server %s", where, b.c.Image, NATSServerVersion))
	}
	o := b.opts
	if o.ServerName != b.w.name+"-0" {
		errs = append(errs, fmt.Errorf("%s: server_name is %q in pod 0, want the pod's name (JetStream needs each server's name unique and stable)", where, o.ServerName))
	}

	// Storage: the store dir is a volumeClaimTemplate's mount.
	var claim *corev1.PersistentVolumeClaim
	for _, m := range b.c.VolumeMounts {
		if m.MountPath == path.Clean(o.StoreDir) {
			for i := range b.w.sts.Spec.VolumeClaimTemplates {
				if t := &b.w.sts.Spec.VolumeClaimTemplates[i]; t.Name == m.Name {
					claim = t
				}
			}
		}
	}
	if claim == nil {
		errs = append(errs, fmt.Errorf("%s: the JetStream store_dir %q is not a volumeClaimTemplate's mount", where, o.StoreDir))
	} else {
		size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
		want := resource.MustParse(prodBusStorage)
		if size.Cmp(want) < 0 {
			errs = append(errs, fmt.Errorf("%s: each server's claim is %s, want %s", where, size.String(), prodBusStorage))
		}
		if o.JetStreamMaxStore <= 0 || float64(o.JetStreamMaxStore) > prodMaxStoreOfClaim*float64(size.Value()) {
			errs = append(errs, fmt.Errorf("%s: max_file_store is %d bytes, want at most %.0f%% of the %s claim", where, o.JetStreamMaxStore, prodMaxStoreOfClaim*100, size.String()))
		}
	}

	// Probes, on the monitoring port the config serves.
	if o.HTTPPort == 0 || !slices.ContainsFunc(b.c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == o.HTTPPort }) {
		errs = append(errs, fmt.Errorf("%s: the config's http_port %d is not a container port", where, o.HTTPPort))
	}
	for i, p := range []*corev1.Probe{b.c.StartupProbe, b.c.LivenessProbe, b.c.ReadinessProbe} {
		want := jetstreamProbes[i]
		switch {
		case p == nil || p.HTTPGet == nil:
			errs = append(errs, fmt.Errorf("%s has no HTTP %s probe", where, want.kind))
		case p.HTTPGet.Path != want.path:
			errs = append(errs, fmt.Errorf("%s's %s probe asks %s, want %s", where, want.kind, p.HTTPGet.Path, want.path))
		case p.HTTPGet.Port.IntValue() != o.HTTPPort:
			errs = append(errs, fmt.Errorf("%s's %s probe asks port %s, the monitoring port is %d", where, want.kind, p.HTTPGet.Port.String(), o.HTTPPort))
		}
	}

	// Lame duck mode on stop, within the grace period.
	grace := int64(30)
	if g := b.w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if b.c.Lifecycle == nil || b.c.Lifecycle.PreStop == nil || b.c.Lifecycle.PreStop.Exec == nil ||
		!strings.Contains(strings.Join(b.c.Lifecycle.PreStop.Exec.Command, " "), "ldm="+o.PidFile) || o.PidFile == "" {
		errs = append(errs, fmt.Errorf("%s: no preStop hook puts the server in lame duck mode (--signal ldm=<pid_file>)", where))
	}
	if o.LameDuckDuration.Seconds() >= float64(grace) {
		errs = append(errs, fmt.Errorf("%s: lame_duck_duration %s does not fit in terminationGracePeriodSeconds %d", where, o.LameDuckDuration, grace))
	}

	// One server per node.
	spread := false
	if a := b.w.pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
			if err == nil && t.TopologyKey == "kubernetes.io/hostname" && !sel.Empty() && sel.Matches(labels.Set(b.w.pod.Labels)) {
				spread = true
			}
		}
	}
	if !spread {
		errs = append(errs, fmt.Errorf("%s: no required pod anti-affinity on kubernetes.io/hostname keeps its servers on different nodes", where))
	}

	// A budget of one server at a time.
	var budgets []string
	for _, pdb := range s.disruptionBudgets() {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(b.w.pod.Labels)) || sel.Empty() {
			continue
		}
		budgets = append(budgets, pdb.Name)
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s over %s: want maxUnavailable: 1 alone", pdb.Name, where))
		}
	}
	if len(budgets) != 1 {
		errs = append(errs, fmt.Errorf("%s is selected by %d PodDisruptionBudgets %v, want 1", where, len(budgets), budgets))
	}

	// Every service on it, the stream at one copy per server.
	for _, app := range apps(s) {
		_, c, ok := s.appContainer(app)
		if !ok {
			continue
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if env["BUS"] != busKindJetStream {
			errs = append(errs, fmt.Errorf("%s: BUS=%q in production, want %s", app, env["BUS"], busKindJetStream))
		}
		if env["JETSTREAM_REPLICAS"] != strconv.Itoa(prodBusServers) {
			errs = append(errs, fmt.Errorf("%s: JETSTREAM_REPLICAS=%q in production, want %d", app, env["JETSTREAM_REPLICAS"], prodBusServers))
		}
	}
	return errors.Join(errs...)
}
