package local.clusterops;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.ArrayList;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/*
 * The bean that Apicurio's config-index Quarkus extension would make at
 * build time, the list of the properties that may be changed at run time:
 * none here, since that extension's deployment artifact is not served.
 */
@ApplicationScoped
public class DynamicConfigProducer {
    @Produces
    @ApplicationScoped
    DynamicConfigPropertyList dynamicConfigProperties() {
        return new DynamicConfigPropertyList(new ArrayList<>());
    }
}
