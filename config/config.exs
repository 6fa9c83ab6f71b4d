import Config

# Chunker reads its settings at run time with Application.get_env(:chunker, key).
# See the README's configuration table.

if File.exists?(Path.join(__DIR__, "#{config_env()}.exs")) do
  import_config "#{config_env()}.exs"
end
