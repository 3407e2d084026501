package server

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
)

// The echo's OpenAI model routes: GET /chat/models lists the one echo model
// (what the openai SDK's models.list() reads), and GET /chat/models/{id}
// describes any model id. The echo answers every model name a request gives it,
// so a client that checks its configured model before using it finds it.

// modelObject is an OpenAI model.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// modelList is the OpenAI list of models.
type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

// modelOwner is the owned_by of every echo model.
const modelOwner = "jwtgate"

// modelList encodes the GET /models body, once.
func (e *echoBackend) modelList() []byte {
	b, err := json.Marshal(modelList{Object: "list", Data: []modelObject{e.modelObject(echoModel)}})
	if err != nil {
		return []byte(internalErrorBody) // plain strings and numbers: cannot happen
	}
	return b
}

func (e *echoBackend) modelObject(id string) modelObject {
	return modelObject{ID: id, Object: "model", Created: e.created, OwnedBy: modelOwner}
}

// modelID returns the {id} of a path "/models/{id}": one non-empty segment.
func modelID(rest string) (string, bool) {
	id, ok := strings.CutPrefix(rest, "/models/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func (e *echoBackend) handleModels(c *gin.Context) {
	writeJSONBytes(c.Writer, http.StatusOK, e.models)
}

func (e *echoBackend) handleModel(c *gin.Context) {
	id, _ := modelID(c.Param("path"))
	respondJSON(c, http.StatusOK, e.modelObject(id))
}
