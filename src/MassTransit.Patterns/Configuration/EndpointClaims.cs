using System.Runtime.CompilerServices;
using MassTransit.Configuration;
using MassTransit.Transports;

namespace MassTransit.Patterns.Configuration;

/// <summary>
/// The claims patterns lay on one receive endpoint as it is configured. A pattern <em>owns</em> what it takes over, and may
/// <em>break</em> what another owns; when two patterns own the same thing, or one breaks what the other owns, the bus start
/// fails naming both and the endpoint. The claims live with the endpoint's configurator (a weak table keyed by it, as the
/// patterns' other per-endpoint configuration state), not beyond the bus build.
/// </summary>
static class EndpointClaims
{
    static readonly ConditionalWeakTable<IReceiveEndpointConfigurator, ClaimsSpecification> Claims = new();

    /// <summary>
    /// Lays <paramref name="pattern"/>'s claim on <paramref name="endpoint"/>: it owns <paramref name="owns"/> and breaks
    /// <paramref name="breaks"/>, as <paramref name="how"/> says (a clause completing "<paramref name="pattern"/> ...").
    /// A pattern's second claim on the endpoint (another call of the same pattern) adds nothing.
    /// </summary>
    /// <returns>
    /// False when the endpoint reserved something the pattern would own (<see cref="Reserve"/>): the pattern steps aside
    /// and configures nothing there.
    /// </returns>
    public static bool Claim(IReceiveEndpointConfigurator endpoint, string pattern, EndpointTakeover owns, EndpointTakeover breaks, string how) =>
        Of(endpoint).Add(new EndpointClaim(pattern, owns, breaks, how));

    /// <summary>
    /// Keeps <paramref name="reserved"/> to the endpoint's own settings on <paramref name="endpoint"/>: a pattern configured there
    /// afterwards that would own it steps aside (its <see cref="Claim"/> returns false). An ambulance lane endpoint, which runs
    /// its queue's configuration but whose concurrency is the lane's own, reserves it.
    /// </summary>
    public static void Reserve(IReceiveEndpointConfigurator endpoint, EndpointTakeover reserved) =>
        Of(endpoint).Reserve(reserved);

    /// <summary>The patterns that stepped aside on <paramref name="endpoint"/> because of a reservation.</summary>
    public static IReadOnlyList<string> SteppedAside(IReceiveEndpointConfigurator endpoint) =>
        Claims.TryGetValue(endpoint, out var claims) ? claims.SteppedAside : [];

    static ClaimsSpecification Of(IReceiveEndpointConfigurator endpoint) =>
        Claims.GetValue(endpoint, static e =>
        {
            var created = new ClaimsSpecification(e);
            e.AddPipeSpecification(created);
            return created;
        });

    sealed record EndpointClaim(string Pattern, EndpointTakeover Owns, EndpointTakeover Breaks, string How);

    /// <summary>Checks the claims when the bus is built; adds nothing to the pipe.</summary>
    sealed class ClaimsSpecification(IReceiveEndpointConfigurator endpoint) : IPipeSpecification<ConsumeContext>
    {
        readonly List<EndpointClaim> _claims = [];
        readonly List<string> _steppedAside = [];
        EndpointTakeover _reserved;

        public IReadOnlyList<string> SteppedAside
        {
            get
            {
                lock (_claims)
                    return [.. _steppedAside];
            }
        }

        public void Reserve(EndpointTakeover reserved)
        {
            lock (_claims)
                _reserved |= reserved;
        }

        public bool Add(EndpointClaim claim)
        {
            lock (_claims)
            {
                if ((claim.Owns & _reserved) != EndpointTakeover.None)
                {
                    if (!_steppedAside.Contains(claim.Pattern))
                        _steppedAside.Add(claim.Pattern);
                    return false;
                }
                if (!_claims.Exists(c => c.Pattern == claim.Pattern))
                    _claims.Add(claim);
                return true;
            }
        }

        public void Apply(IPipeBuilder<ConsumeContext> builder)
        {
        }

        public IEnumerable<ValidationResult> Validate()
        {
            EndpointClaim[] claims;
            lock (_claims)
                claims = [.. _claims];
            var name = endpoint.InputAddress.GetEndpointName() ?? endpoint.InputAddress.ToString();
            var failures = new List<ValidationResult>();
            for (var i = 0; i < claims.Length; i++)
                for (var j = i + 1; j < claims.Length; j++)
                {
                    var (a, b) = (claims[i], claims[j]);
                    var clash = (a.Owns & b.Owns) | (a.Owns & b.Breaks) | (a.Breaks & b.Owns);
                    if (clash != EndpointTakeover.None)
                        failures.Add(new OptionValidationResult($"{a.Pattern} and {b.Pattern}",
                            $"cannot share the endpoint '{name}' (both decide its {Describe(clash)}): {a.Pattern} {a.How}; {b.Pattern} {b.How}. Give one of them an endpoint of its own."));
                }
            return failures;
        }

        static string Describe(EndpointTakeover clash) => clash switch
        {
            EndpointTakeover.Concurrency => "concurrent message limit and prefetch",
            EndpointTakeover.DeliveryOrder => "delivery order",
            _ => "concurrent message limit, prefetch and delivery order"
        };
    }
}
