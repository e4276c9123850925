package manifests

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// dnsEgress is what every pod may reach: the cluster's DNS.
var dnsEgress = []string{"dns:53/UDP", "dns:53/TCP"}

// wantEgress is, per workload, everything it talks to besides DNS: its
// database, the bus (NATS Streaming's or JetStream's servers, whichever the
// manifests run), Redis, Stripe (HTTPS outside the cluster's private
// ranges), the APIs; a JetStream server talks to its peers. Workloads not
// named here (the databases, Redis, NATS Streaming) talk to nothing. A
// destination is "<workload>:<port>/<protocol>", or
// "<cidr>:<port>/<protocol>" outside the cluster.
func wantEgress(s *Set) map[string][]string {
	mongo := func(app string) string { return app + "-mongo-depl:27017/TCP" }
	const redis, stripe = "expiration-redis-depl:6379/TCP", "0.0.0.0/0:443/TCP"
	nats := "no bus:4222/TCP"
	buses, _ := s.buses() // a broken bus is checkBus's to report
	peers := map[string][]string{}
	for _, b := range buses {
		nats = fmt.Sprintf("%s:%d/TCP", b.w.name, b.port(clientPortName))
		if b.w.replicas > 1 {
			peers[b.w.name] = []string{fmt.Sprintf("%s:%d/TCP", b.w.name, b.port(clusterPortName))}
		}
	}
	want := map[string][]string{
		"auth-depl":       {mongo("auth"), nats}, // session:revoked
		"tickets-depl":    {mongo("tickets"), nats},
		"orders-depl":     {mongo("orders"), nats},
		"payments-depl":   {mongo("payments"), nats, stripe},
		"expiration-depl": {redis, nats},
		"client-depl":     {"auth-depl:3000/TCP", "tickets-depl:3000/TCP", "orders-depl:3000/TCP", "payments-depl:3000/TCP", nats},
	}
	maps.Copy(want, peers)
	return want
}

func (s *Set) networkPolicies() []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, o := range s.Objects {
		if np, ok := o.Obj.(*networkingv1.NetworkPolicy); ok {
			out = append(out, np)
		}
	}
	return out
}

// checkEgress: every pod's egress is restricted by some policy (a default
// deny), and what the policies let each workload reach is exactly DNS plus
// what wantEgress says it talks to, nothing missing and nothing more.
func checkEgress(s *Set) error {
	var errs []error
	want := wantEgress(s)
	for _, w := range s.workloads() {
		got, restricted, err := s.egressOf(w)
		if err != nil {
			errs = append(errs, err)
		}
		if !restricted {
			errs = append(errs, fmt.Errorf("%s %s has unrestricted egress: no Egress policy selects its pods", w.kind, w.name))
			continue
		}
		expected := append(slices.Clone(dnsEgress), want[w.name]...)
		for _, d := range expected {
			if !got[d] {
				errs = append(errs, fmt.Errorf("%s %s cannot reach %s, which it needs", w.kind, w.name, d))
			}
		}
		var extra []string
		for d := range got {
			if !slices.Contains(expected, d) {
				extra = append(extra, d)
			}
		}
		sort.Strings(extra)
		for _, d := range extra {
			errs = append(errs, fmt.Errorf("%s %s may reach %s, which it does not talk to", w.kind, w.name, d))
		}
	}
	return errors.Join(errs...)
}

// egressOf is every destination the policies selecting w's pods allow,
// and whether any Egress policy selects them at all (if none does, all
// egress is allowed).
func (s *Set) egressOf(w workload) (map[string]bool, bool, error) { return s.allowedOf(w, true) }

// allowedOf is every peer the policies selecting w's pods allow in one
// direction (egress: destinations; else sources), as
// "<workload or namespace(...)>:<port>/<protocol>", and whether any policy
// of that direction selects them at all.
func (s *Set) allowedOf(w workload, egress bool) (map[string]bool, bool, error) {
	type rule struct {
		peers []networkingv1.NetworkPolicyPeer
		ports []networkingv1.NetworkPolicyPort
	}
	got := map[string]bool{}
	restricted := false
	var errs []error
	for _, np := range s.networkPolicies() {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s: %w", np.Name, err))
			continue
		}
		if !sel.Matches(labels.Set(w.pod.Labels)) {
			continue
		}
		var rules []rule
		switch {
		case egress && governsEgress(np):
			for _, r := range np.Spec.Egress {
				rules = append(rules, rule{r.To, r.Ports})
			}
		case !egress && governsIngress(np.Spec.PolicyTypes):
			for _, r := range np.Spec.Ingress {
				rules = append(rules, rule{r.From, r.Ports})
			}
		default:
			continue
		}
		restricted = true
		for _, r := range rules {
			peers, err := s.peers(np.Name, r.peers)
			if err != nil {
				errs = append(errs, err)
			}
			for _, peer := range peers {
				for _, port := range portsOf(r.ports) {
					got[peer+":"+port] = true
				}
			}
		}
	}
	return got, restricted, errors.Join(errs...)
}

// governsEgress reports whether a policy restricts its pods' egress.
func governsEgress(np *networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return len(np.Spec.Egress) > 0 // the API server's default
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// peers names a rule's destinations: workloads of this namespace, the
// cluster's DNS, CIDRs; an empty list is everywhere.
func (s *Set) peers(policy string, to []networkingv1.NetworkPolicyPeer) ([]string, error) {
	if len(to) == 0 {
		return []string{"anywhere"}, nil
	}
	var out []string
	var errs []error
	for _, p := range to {
		switch {
		case p.IPBlock != nil:
			out = append(out, p.IPBlock.CIDR)
		case p.NamespaceSelector != nil:
			if isDNS(p) {
				out = append(out, "dns")
			} else {
				out = append(out, "namespace("+metav1.FormatLabelSelector(p.NamespaceSelector)+")")
			}
		case p.PodSelector != nil:
			sel, err := metav1.LabelSelectorAsSelector(p.PodSelector)
			if err != nil {
				errs = append(errs, fmt.Errorf("NetworkPolicy %s: %w", policy, err))
				continue
			}
			n := len(out)
			for _, w := range s.workloads() {
				if sel.Matches(labels.Set(w.pod.Labels)) {
					out = append(out, w.name)
				}
			}
			if len(out) == n {
				errs = append(errs, fmt.Errorf("NetworkPolicy %s: egress to %s selects no workload", policy, sel))
			}
		}
	}
	return out, errors.Join(errs...)
}

// isDNS reports whether a peer is kube-system's DNS pods.
func isDNS(p networkingv1.NetworkPolicyPeer) bool {
	ns := p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "kube-system"
	return ns && p.PodSelector != nil && p.PodSelector.MatchLabels["k8s-app"] == "kube-dns"
}

// portsOf names a rule's ports, "3000/TCP"; none is every port.
func portsOf(ports []networkingv1.NetworkPolicyPort) []string {
	if len(ports) == 0 {
		return []string{"*"}
	}
	var out []string
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		port := "*"
		if p.Port != nil {
			port = p.Port.String()
		}
		out = append(out, port+"/"+string(proto))
	}
	return out
}

// exactVersionRe is a release tag naming one build: 7.0.14, v2.10.1,
// 7.2.5-alpine.
var exactVersionRe = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$`)

// checkPinnedImages: every image not built here names an exact release
// (or a digest): "latest", no tag or a bare major/minor tag moves under
// the cluster's feet and a restart may run something else.
func checkPinnedImages(s *Set) error {
	var errs []error
	for _, w := range s.workloads() {
		for _, c := range append(w.pod.Spec.InitContainers, w.pod.Spec.Containers...) {
			if strings.HasPrefix(imageName(c.Image), appImagePrefix) || strings.Contains(c.Image, "@sha256:") {
				continue
			}
			tag := strings.TrimPrefix(strings.TrimPrefix(c.Image, imageName(c.Image)), ":")
			if !exactVersionRe.MatchString(tag) {
				errs = append(errs, fmt.Errorf("%s %s runs %s, which is not pinned to an exact version", w.kind, w.name, c.Image))
			}
		}
	}
	return errors.Join(errs...)
}

// monitoringPortRe names the ports that serve operators, not the app.
var monitoringPortRe = regexp.MustCompile(`(?i)monitor|metrics|admin`)

// checkServicePorts: no Service exposes a monitoring port (NATS's 8222 and
// the like): it answers the kubelet's probes on the pod, nothing else needs it.
func checkServicePorts(s *Set) error {
	var errs []error
	for _, svc := range s.services() {
		for _, p := range svc.Spec.Ports {
			if monitoringPortRe.MatchString(p.Name) || p.Port == 8222 || p.TargetPort.IntValue() == 8222 {
				errs = append(errs, fmt.Errorf("service %s exposes monitoring port %s (%d)", svc.Name, p.Name, p.Port))
			}
		}
	}
	return errors.Join(errs...)
}

// checkIngressTLS: every Ingress serves each of its hosts over TLS, from a
// secret whose name the README tells people to create.
func checkIngressTLS(s *Set) error {
	var errs []error
	for _, ing := range s.ingresses() {
		if len(ing.Spec.TLS) == 0 {
			errs = append(errs, fmt.Errorf("ingress %s has no tls block", ing.Name))
			continue
		}
		var hosts []string
		for _, t := range ing.Spec.TLS {
			switch {
			case t.SecretName == "":
				errs = append(errs, fmt.Errorf("ingress %s: a tls entry names no secret", ing.Name))
			case !strings.Contains(s.Readme, "`"+t.SecretName+"`") && !strings.Contains(s.Readme, " "+t.SecretName+" "):
				errs = append(errs, fmt.Errorf("ingress %s: tls secret %s is not documented in README.md", ing.Name, t.SecretName))
			}
			hosts = append(hosts, t.Hosts...)
		}
		for _, r := range ing.Spec.Rules {
			if r.Host != "" && !slices.Contains(hosts, r.Host) {
				errs = append(errs, fmt.Errorf("ingress %s: host %s is not in its tls block", ing.Name, r.Host))
			}
		}
	}
	return errors.Join(errs...)
}
