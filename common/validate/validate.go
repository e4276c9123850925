// Package validate decodes JSON request bodies and checks them with
// go-playground/validator, answering every problem as a 400 envelope with
// per-field messages (docs/CONTRACT.md §2): a malformed body is never a 500.
//
// Messages come from a `msg` struct tag beside the `validate` tag, so a
// request type states its rules and their wording in one place:
//
//	Email string `json:"email" validate:"required,email" msg:"Email must be valid"`
//
// The rules every API shares live here with their wording: Price and its
// `price` tag (PriceMessage), Title (TitleMessage). Their messages win over
// `msg` for what they refuse, so every API and the web form say the same.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"ticketing.dev/common/httpapi"
)

// MaxBodyBytes bounds every request body; larger bodies are refused with 413.
const MaxBodyBytes = 1 << 20

// Validator decodes and validates request bodies. It caches struct metadata,
// so build one per service and share it.
type Validator struct {
	v *validator.Validate
}

// New returns a Validator that names fields by their JSON names.
func New() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(jsonName)
	// The tag catches a missing or null price, which decoding leaves zero.
	if err := v.RegisterValidation("price", func(fl validator.FieldLevel) bool {
		p, ok := fl.Field().Interface().(Price)
		return ok && p.Valid()
	}); err != nil {
		panic(fmt.Sprintf("validate: registering the price tag: %v", err)) // a fixed, valid tag name
	}
	return &Validator{v: v}
}

// Body decodes r's JSON body into dst (a pointer to a struct) and validates it.
func (v *Validator) Body(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := Decode(w, r, dst); err != nil {
		return err
	}
	return v.Struct(dst)
}

// Struct validates s, returning an *httpapi.Error listing each failing field
// with the message of its `msg` tag.
func (v *Validator) Struct(s any) error {
	err := v.v.Struct(s)
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		return err // nil, or a programming error such as a non-struct
	}
	t := reflect.Indirect(reflect.ValueOf(s)).Type()
	details := make([]httpapi.Detail, 0, len(fieldErrs))
	seen := make(map[string]bool)
	for _, fe := range fieldErrs {
		if seen[fe.Field()] {
			continue // one message per field is enough
		}
		seen[fe.Field()] = true
		msg := ruleMessage(fe.Tag())
		if msg == "" {
			msg = message(t, fe.StructField(), fe.Field())
		}
		details = append(details, httpapi.Detail{Field: fe.Field(), Message: msg})
	}
	return httpapi.Validation(details...)
}

// Decode reads one JSON value from r's body into dst. Fields the type does
// not know are ignored (like the original); a body that is not JSON, a value
// of the wrong type, trailing data or an oversized body is a 4xx.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err := dec.Decode(dst); err != nil {
		return decodeError(dst, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return httpapi.BadRequest("Request body must be a single JSON object")
	}
	return nil
}

func decodeError(dst any, err error) error {
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return &httpapi.Error{Status: http.StatusRequestEntityTooLarge,
			Details: []httpapi.Detail{{Message: fmt.Sprintf("Request body must not exceed %d bytes", tooBig.Limit)}}}
	case errors.As(err, &typeErr) && typeErr.Field != "":
		t := reflect.Indirect(reflect.ValueOf(dst)).Type()
		field := typeErr.Field
		msg := typeMessage(typeErr.Type)
		if msg == "" {
			msg = message(t, goFieldName(t, field), field)
		}
		return httpapi.Validation(httpapi.Detail{Field: field, Message: msg})
	case errors.As(err, &typeErr):
		return httpapi.BadRequest("Request body must be a JSON object")
	case errors.Is(err, io.EOF):
		return httpapi.BadRequest("Request body is empty")
	default:
		return httpapi.BadRequest("Request body must be valid JSON")
	}
}

// ruleMessage is the wording of a tag this package registers.
func ruleMessage(tag string) string {
	if tag == "price" {
		return PriceMessage
	}
	return ""
}

// typeMessage is the wording of a type of this package that refused the
// value it was given: it knows its rule better than a generic `msg`.
func typeMessage(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Price]():
		return PriceMessage
	case reflect.TypeFor[Title]():
		return TitleMessage
	}
	return ""
}

// message is the `msg` tag of the struct field, or a generic sentence.
func message(t reflect.Type, goName, jsonField string) string {
	if t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName(goName); ok {
			if m := f.Tag.Get("msg"); m != "" {
				return m
			}
		}
	}
	return fmt.Sprintf("%s is invalid", jsonField)
}

// goFieldName maps a JSON name back to the Go field that carries it.
func goFieldName(t reflect.Type, name string) string {
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == name {
			return t.Field(i).Name
		}
	}
	return ""
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}
