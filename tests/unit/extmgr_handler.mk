# extmgr_handler.mk -- the handler protocol's unit suite and its manifest/status fuzz harness, included by the top Makefile.
# (extmgr's own build.mk builds the program; this file only tests handler.c
# and manifest.c, which link lib/ and nothing else of extmgr.)

EXTMGR_HANDLER_SRC := agentlets/extmgr/handler.c agentlets/extmgr/manifest.c

UNIT_TESTS += extmgr_handler
extmgr_handler_test_OBJS := $(EXTMGR_HANDLER_SRC) lib/atomicfile.c lib/safedir.c \
	lib/prockill.c
$(OBJ)/tests/unit/extmgr_handler_test.o: ALL_CFLAGS += -Iagentlets/extmgr
$(OBJ)/agentlets/extmgr/handler.o $(OBJ)/agentlets/extmgr/manifest.o: \
	ALL_CFLAGS += -Iagentlets/extmgr

# The fuzz harness: HandlerManifest.json, status and heartbeat parsers.
FUZZ_HARNESSES	+= ext_manifest
ext_manifest_fuzz_SRC := agentlets/extmgr/manifest.c lib/atomicfile.c
$(FUZZ_DIR)/obj/tests/fuzz/ext_manifest_fuzz.o \
$(FUZZ_DIR)/obj/agentlets/extmgr/manifest.o: FUZZ_CFLAGS += -Iagentlets/extmgr
$(eval $(call fuzz_rule,ext_manifest))
fuzz-build test: $(FUZZ_DIR)/ext_manifest_fuzz
