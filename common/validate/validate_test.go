package validate_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/validate"
)

type ticketRequest struct {
	Title validate.Title `json:"title" validate:"required,min=3,max=200" msg:"Title is required"`
	Price validate.Price `json:"price" validate:"price"`
}

func decode(t *testing.T, body string) (ticketRequest, *httpapi.Error) {
	t.Helper()
	var req ticketRequest
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	err := validate.New().Body(httptest.NewRecorder(), r, &req)
	if err == nil {
		return req, nil
	}
	var he *httpapi.Error
	require.True(t, errors.As(err, &he), "want *httpapi.Error, got %T %v", err, err)
	return req, he
}

func TestValidBodyDecodes(t *testing.T) {
	req, err := decode(t, `{"title":"concert","price":20,"extra":"ignored"}`)
	require.Nil(t, err)
	assert.Equal(t, ticketRequest{Title: "concert", Price: 20}, req)
}

func TestPriceAcceptsNumericStrings(t *testing.T) {
	req, err := decode(t, `{"title":"concert","price":"20.10"}`)
	require.Nil(t, err)
	assert.Equal(t, validate.Price(20.10), req.Price)
	assert.Equal(t, int64(2010), req.Price.Cents())
}

func TestCentsAreRoundedNotTruncated(t *testing.T) {
	for price, cents := range map[validate.Price]int64{20.10: 2010, 0.29: 29, 19.99: 1999, 1.005: 101, 100: 10000} {
		assert.Equal(t, cents, price.Cents(), "price %v", price)
	}
}

func TestFieldRulesGiveFieldMessages(t *testing.T) {
	cases := map[string][]httpapi.Detail{
		`{"title":"","price":10}`:           {{Field: "title", Message: "Title is required"}},
		`{"title":"concert","price":-10}`:   {{Field: "price", Message: validate.PriceMessage}},
		`{"title":"concert"}`:               {{Field: "price", Message: validate.PriceMessage}},
		`{}`:                                {{Field: "title", Message: "Title is required"}, {Field: "price", Message: validate.PriceMessage}},
		`{"title":"concert","price":"abc"}`: {{Field: "price", Message: validate.PriceMessage}},
		`{"title":"concert","price":"NaN"}`: {{Field: "price", Message: validate.PriceMessage}},
		`{"title":{"$gt":""},"price":10}`:   {{Field: "title", Message: "Title is required"}},
		`{"title":"a\u0000b","price":10}`:   {{Field: "title", Message: validate.TitleMessage}},
	}
	for body, want := range cases {
		t.Run(body, func(t *testing.T) {
			_, err := decode(t, body)
			require.NotNil(t, err)
			assert.Equal(t, 400, err.Status)
			assert.Equal(t, want, err.Details)
		})
	}
}

func TestMalformedBodiesAre400(t *testing.T) {
	for _, body := range []string{``, `not json`, `{"title":`, `[1,2]`, `"str"`, `{"title":"abc","price":1} {"again":1}`} {
		t.Run(body, func(t *testing.T) {
			_, err := decode(t, body)
			require.NotNil(t, err)
			assert.Equal(t, 400, err.Status)
			assert.NotEmpty(t, err.Details[0].Message)
		})
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	body := `{"title":"` + strings.Repeat("a", 2<<20) + `","price":1}`
	_, err := decode(t, body)
	require.NotNil(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, err.Status)
}

func TestPriceMarshalsAsNumber(t *testing.T) {
	b, err := json.Marshal(struct {
		Price validate.Price `json:"price"`
	}{20.5})
	require.NoError(t, err)
	assert.JSONEq(t, `{"price":20.5}`, string(b))
}
