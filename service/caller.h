/* Who made a call, as the rpc layer saw it: what the run history and the logs record. A type
 * shared by every layer, like tm_error. */
#ifndef TM_CALLER_H
#define TM_CALLER_H

/* Empty strings for what is not known. */
typedef struct {
  char peer[128];       /* "ipv4:10.0.0.7:51234" */
  char identity[256];   /* "x509:CN=deployer,O=twigz", "token:ci", or "" */
  char user_agent[256]; /* the client's user-agent header */
} tm_caller;

#endif
