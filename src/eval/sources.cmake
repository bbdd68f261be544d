target_sources(xlstm PRIVATE ${CMAKE_CURRENT_LIST_DIR}/perplexity.cpp)
