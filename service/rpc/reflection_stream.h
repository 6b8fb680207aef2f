/* The gRPC plumbing of server reflection: the bidi stream of grpc.reflection.v1 and v1alpha, each
 * request answered in order by reflection.c. */
#ifndef TM_RPC_REFLECTION_STREAM_H
#define TM_RPC_REFLECTION_STREAM_H

#include "call.h"
#include "reflection.h"

/* Fills the two methods (v1, v1alpha) served from r (borrowed; must outlive the server). */
void tm_reflection_methods(tm_reflection *r, tm_method *v1, tm_method *v1alpha);

#endif
