defmodule Chunker.Application do
  @moduledoc false
  # Validates the configuration (a clear error at startup), sizes the worker
  # pool and turns metrics on or off. No processes are needed.
  use Application

  @impl true
  def start(_type, _args) do
    config = Chunker.Config.load!()
    Chunker.Config.put(config)
    Chunker.Native.pool_configure(config.threads)
    :ok = Chunker.Native.metrics_configure(config.metrics_sample_rate)
    Supervisor.start_link([], strategy: :one_for_one, name: Chunker.Supervisor)
  end
end
