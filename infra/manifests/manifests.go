// Package manifests checks the Kubernetes manifests, the Dockerfiles and
// skaffold.yaml offline: no cluster can run where the tests run (docs/CONTRACT.md §6),
// so every manifest is strictly decoded into the API's own types and then
// cross-checked against the others and against the services' code.
package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// allowedKinds are the only apiVersion/kind pairs the manifests may use:
// current, stable APIs.
var allowedKinds = map[schema.GroupVersionKind]bool{
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                 true,
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}:                true,
	{Group: "", Version: "v1", Kind: "Service"}:                        true,
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}:       true,
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}: true,
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}:      true,
}

// Object is one decoded manifest document.
type Object struct {
	File string
	Obj  runtime.Object
}

// Skaffold is the part of skaffold.yaml the checks read.
type Skaffold struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build struct {
		Local struct {
			Push *bool `json:"push"`
		} `json:"local"`
		Artifacts []struct {
			Image   string `json:"image"`
			Context string `json:"context"`
			Docker  struct {
				Dockerfile string `json:"dockerfile"`
				// BuildArgs holds SERVICE: one Dockerfile builds every
				// service, and the arg names which.
				BuildArgs map[string]string `json:"buildArgs"`
			} `json:"docker"`
		} `json:"artifacts"`
	} `json:"build"`
	Manifests struct {
		RawYaml []string `json:"rawYaml"`
	} `json:"manifests"`
	Deploy struct {
		Kubectl map[string]any `json:"kubectl"`
	} `json:"deploy"`
	Profiles []map[string]any `json:"profiles"`
}

// Set is everything the checks look at, loaded into memory so a test can
// break a copy and see a check fail.
type Set struct {
	Objects     []Object
	Skaffold    Skaffold
	Dockerfiles map[string]string // path from the repo root → content
	Routes      map[string]string // service → its routes.go
	Toolchain   string            // go.work's toolchain, e.g. "1.26.8"
	Readme      string            // README.md, where secrets are documented
	// RequiredEnv is, per service, the variables it refuses to start
	// without, as the service itself reports them (see RequiredEnv).
	RequiredEnv map[string][]string
}

// Load reads the manifests under root/infra/k8s, skaffold.yaml, the
// Dockerfiles it names, the services' routes and go.work's toolchain.
func Load(root string) (*Set, error) {
	s := &Set{Dockerfiles: map[string]string{}, Routes: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(root, "infra", "k8s", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no manifests in %s", filepath.Join(root, "infra", "k8s"))
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, doc := range splitDocuments(data) {
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s document %d: %w", filepath.Base(f), i+1, err)
			}
			if !allowedKinds[*gvk] {
				return nil, fmt.Errorf("%s document %d: %s is not an allowed apiVersion/kind", filepath.Base(f), i+1, gvk)
			}
			s.Objects = append(s.Objects, Object{File: filepath.Base(f), Obj: obj})
		}
	}

	data, err := os.ReadFile(filepath.Join(root, "skaffold.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &s.Skaffold); err != nil {
		return nil, fmt.Errorf("skaffold.yaml: %w", err)
	}
	for _, a := range s.Skaffold.Build.Artifacts {
		b, err := os.ReadFile(filepath.Join(root, a.Context, a.Docker.Dockerfile))
		if err != nil {
			return nil, fmt.Errorf("artifact %s: %w", a.Image, err)
		}
		s.Dockerfiles[a.Docker.Dockerfile] = string(b)
	}
	for _, name := range apps(s) {
		b, err := os.ReadFile(filepath.Join(root, name, "routes.go"))
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		s.Routes[name] = string(b)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	s.Readme = string(readme)
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(work)
	if m == nil {
		return nil, fmt.Errorf("go.work pins no toolchain")
	}
	s.Toolchain = string(m[1])
	return s, nil
}

func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b bytes.Buffer
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// appImagePrefix marks the project's own images.
const appImagePrefix = "ticketing/"

// apps lists the services built from this repository: the images of
// skaffold's artifacts without the prefix.
func apps(s *Set) []string {
	var out []string
	for _, a := range s.Skaffold.Build.Artifacts {
		out = append(out, strings.TrimPrefix(a.Image, appImagePrefix))
	}
	sort.Strings(out)
	return out
}

// workload is a Deployment or StatefulSet, seen through what the checks need.
type workload struct {
	file, kind, name string
	labels           map[string]string
	replicas         int32 // as the API server defaults it: 1 when unset
	pod              corev1.PodTemplateSpec
	sts              *appsv1.StatefulSet // the StatefulSet itself; nil for a Deployment
}

func (s *Set) workloads() []workload {
	var out []workload
	for _, o := range s.Objects {
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o.File, "Deployment", w.Name, w.Labels, replicas(w.Spec.Replicas), w.Spec.Template, nil})
		case *appsv1.StatefulSet:
			out = append(out, workload{o.File, "StatefulSet", w.Name, w.Labels, replicas(w.Spec.Replicas), w.Spec.Template, w})
		}
	}
	return out
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

func (s *Set) services() []*corev1.Service {
	var out []*corev1.Service
	for _, o := range s.Objects {
		if svc, ok := o.Obj.(*corev1.Service); ok {
			out = append(out, svc)
		}
	}
	return out
}

func (s *Set) configMaps() []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, o := range s.Objects {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
			out = append(out, cm)
		}
	}
	return out
}

func (s *Set) disruptionBudgets() []*policyv1.PodDisruptionBudget {
	var out []*policyv1.PodDisruptionBudget
	for _, o := range s.Objects {
		if pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok {
			out = append(out, pdb)
		}
	}
	return out
}

func (s *Set) ingresses() []*networkingv1.Ingress {
	var out []*networkingv1.Ingress
	for _, o := range s.Objects {
		if ing, ok := o.Obj.(*networkingv1.Ingress); ok {
			out = append(out, ing)
		}
	}
	return out
}

// appContainer finds the container running the service's image.
func (s *Set) appContainer(app string) (workload, corev1.Container, bool) {
	for _, w := range s.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if imageName(c.Image) == appImagePrefix+app {
				return w, c, true
			}
		}
	}
	return workload{}, corev1.Container{}, false
}

// imageName drops a tag or digest.
func imageName(image string) string {
	if i := strings.IndexAny(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}
