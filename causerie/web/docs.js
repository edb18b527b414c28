// The API documentation page (/docs): Swagger UI over this server's /openapi.json.
// In a file, not inline: the pages' Content-Security-Policy allows scripts from 'self' only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
});
