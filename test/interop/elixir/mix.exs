defmodule SysportInterop.MixProject do
  use Mix.Project

  # sysport as an Elixir project depends on it: a rebar3 dependency built by
  # the system rebar3 (MIX_REBAR3), no Hex. The path is this repository.
  def project do
    [
      app: :sysport_interop,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: if(Mix.env() == :test, do: ["lib", "test/support"], else: ["lib"]),
      deps: [{:sysport, path: "../../..", manager: :rebar3}]
    ]
  end

  def application, do: [extra_applications: [:logger]]
end
