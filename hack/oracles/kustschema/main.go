// Command kustschema prints the JSON field tree of kustomize's types.Kustomization, as encoding/json sees it,
// so that dr-bootstrap can re-serialize a kustomization file the way Flux's generator does (a typed round trip
// through that struct drops unknown fields). bootstrap/render/kustomization_schema.json is its output; a test
// regenerates it and compares.
package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"

	kustypes "sigs.k8s.io/kustomize/api/types"
)

// node describes one Go type: "string", "bool", "int", "any", a list of a node, a map of a node, or an object.
type node struct {
	Type      string           `json:"type"`
	Items     *node            `json:"items,omitempty"`
	Fields    map[string]*node `json:"fields,omitempty"`
	OmitEmpty bool             `json:"omitempty,omitempty"` // as a field: left out of the JSON when zero
	Pointer   bool             `json:"pointer,omitempty"`   // as a field: a pointer (nil when absent, never zero-filled)
}

func describe(t reflect.Type, seen map[reflect.Type]bool) *node {
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return &node{Type: "string"}
	case reflect.Bool:
		return &node{Type: "bool"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &node{Type: "int"}
	case reflect.Float32, reflect.Float64:
		return &node{Type: "float"}
	case reflect.Interface:
		return &node{Type: "any"}
	case reflect.Slice, reflect.Array:
		return &node{Type: "list", Items: describe(t.Elem(), seen)}
	case reflect.Map:
		return &node{Type: "map", Items: describe(t.Elem(), seen)}
	case reflect.Struct:
		if seen[t] {
			return &node{Type: "any"}
		}
		seen[t] = true
		defer delete(seen, t)
		n := &node{Type: "object", Fields: map[string]*node{}}
		addFields(t, n, seen)
		return n
	}
	return &node{Type: "any"}
}

func addFields(t reflect.Type, n *node, seen map[reflect.Type]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Ptr {
			ft = ft.Elem()
		}
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) && ft.Kind() == reflect.Struct {
			addFields(ft, n, seen)
			continue
		}
		if name == "" {
			name = f.Name
		}
		child := describe(f.Type, seen)
		child.OmitEmpty = strings.Contains(","+opts+",", ",omitempty,")
		child.Pointer = f.Type.Kind() == reflect.Ptr
		n.Fields[name] = child
	}
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(describe(reflect.TypeOf(kustypes.Kustomization{}), map[reflect.Type]bool{})); err != nil {
		panic(err)
	}
}
