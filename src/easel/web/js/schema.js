// What the studio reads from the server's OpenAPI document: the v2beta operations and
// the choices (enums, defaults) of each body, so the forms follow the API, not a copy.

let documentPromise = null;

export function openapi() {
  documentPromise ??= fetch("/openapi.json").then((response) => response.json());
  return documentPromise;
}

function resolve(document, schema) {
  if (schema && schema.$ref) {
    return document.components.schemas[schema.$ref.split("/").pop()];
  }
  return schema || {};
}

// The properties of the body an operation takes (JSON or multipart).
export function bodyProperties(document, path) {
  const content = document.paths[path]?.post?.requestBody?.content || {};
  const media = content["application/json"] || content["multipart/form-data"];
  const schema = resolve(document, media?.schema);
  const properties = {};
  for (const [name, property] of Object.entries(schema.properties || {})) {
    properties[name] = resolve(document, property);
  }
  return properties;
}

// A property's allowed values, through `anyOf: [{enum}, {type: null}]` too.
export function enumOf(property) {
  if (!property) return null;
  if (property.enum) return property.enum;
  for (const choice of property.anyOf || []) {
    if (choice.enum) return choice.enum;
  }
  return null;
}

// The v2beta image operations the studio runs (generate and upscale): path, a readable
// name, and whether it answers an id to poll instead of the image.
const STUDIO_V2BETA = /^\/v2beta\/stable-image\/(generate|upscale)\//;

export function v2betaImageOperations(document) {
  return Object.keys(document.paths)
    .filter((path) => STUDIO_V2BETA.test(path) && document.paths[path].post)
    .map((path) => ({
      path,
      name: `v2beta ${path.replace(/^\/v2beta\/stable-image\/(generate\/)?/, "").replaceAll("/", " ")}`,
      async: answersWithId(document, path),
    }));
}

function answersWithId(document, path) {
  const schema = document.paths[path].post.responses?.["200"]?.content?.["application/json"]?.schema;
  return Boolean(schema?.$ref?.endsWith("/GenerationID"));
}
