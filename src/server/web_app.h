// The chat web app served at / : web/index.html, embedded into the binary at build time
// (embed_web_app.cmake writes it into a generated .cc), so the server needs no files and no CDN.
#pragma once

namespace r1::server {

extern const char kWebAppHtml[];

}  // namespace r1::server
