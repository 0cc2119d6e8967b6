// The flags shared by the commands that generate text (run, chat, later serve): model, context,
// threads and sampling, in llama.cpp's spelling, and their translation into GenerationParams.
#pragma once
#include <memory>
#include <vector>

#include "cli/args.h"
#include "model/model.h"
#include "runtime/session.h"

namespace r1::cli {

std::vector<Flag> model_flags();       // -m, -c, -t, --fp8, --cache-type
Flag cache_type_flag();                 // --cache-type (-ctk, llama.cpp's spelling for the keys' type)
Flag cache_type_v_flag();               // --cache-type-v (-ctv): the values' type (default: --cache-type's)
std::vector<Flag> generation_flags();  // -n, --temp, --top-p, ..., --stop, --reasoning-budget, --mtp

// Loads -m (or the default model) as the flags say (--cache-type included).
std::unique_ptr<Model> load_model(const Args& a);
// Applies --cache-type to the model's KV caches.
void set_cache_type(const Args& a, Model& m);
int threads_from(const Args& a);
int64_t context_from(const Args& a, const Model& m);
// Sampling defaults: the flags if given, else the model's generation_config, else R1's 0.6 / 0.95.
GenerationParams generation_params(const Args& a, const Model& m);

}  // namespace r1::cli
