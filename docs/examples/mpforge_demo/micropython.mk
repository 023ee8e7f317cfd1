# mpforge_demo for the make ports (unix, stm32, ...). The esp32 port ignores
# this file: it reads micropython.cmake.
MPFORGE_DEMO_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(MPFORGE_DEMO_DIR)/mpforge_demo.c
CFLAGS_USERMOD += -I$(MPFORGE_DEMO_DIR)
