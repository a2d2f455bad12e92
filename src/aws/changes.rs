//! `Changes` on the real AWS: the mutating calls `act/` makes (UpdateAutoScalingGroup,
//! PutScalingPolicy, StartInstanceRefresh, UpdateTable, Application Auto Scaling) and the
//! reads right before and after them. Mutations go through clients without SDK retries, so
//! each change is sent exactly once; reads use the retrying clients.
//!
//! May use: aws-sdk-*, domain. Called only from `act/`.

use super::sdk::{SdkAws, classify, is_in_service, overrides_of, policy_of};
use super::*;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_autoscaling::types::{
    InstancesDistribution as SdkDistribution, LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy,
    RefreshPreferences, TargetTrackingConfiguration,
};

fn invalid(service: &'static str, operation: &'static str, message: String) -> AwsError {
    AwsError {
        service,
        operation,
        kind: ErrorKind::InvalidRequest,
        message,
    }
}

fn not_found(service: &'static str, operation: &'static str, what: String) -> AwsError {
    AwsError {
        service,
        operation,
        kind: ErrorKind::NotFound,
        message: format!("{what} not found"),
    }
}

/// A described launch template specification made fit to send back: Describe returns the
/// template's id and name, and an update with both is refused ("either launchTemplateId or
/// LaunchTemplateName"); the id is kept when there is one.
fn writable_spec(spec: &LaunchTemplateSpecification) -> LaunchTemplateSpecification {
    let b = LaunchTemplateSpecification::builder().set_version(spec.version().map(String::from));
    match spec.launch_template_id() {
        Some(id) => b.launch_template_id(id).build(),
        None => b.set_launch_template_name(spec.launch_template_name().map(String::from)).build(),
    }
}

/// A described mixed instances policy made fit to send back whole.
fn writable_policy(m: &MixedInstancesPolicy) -> MixedInstancesPolicy {
    let lt = m.launch_template().map(|lt| {
        LaunchTemplate::builder()
            .set_launch_template_specification(lt.launch_template_specification().map(writable_spec))
            .set_overrides(Some(
                lt.overrides()
                    .iter()
                    .map(|o| {
                        let mut o = o.clone();
                        if let Some(s) = o.launch_template_specification() {
                            o = LaunchTemplateOverrides::builder()
                                .set_instance_type(o.instance_type().map(String::from))
                                .set_weighted_capacity(o.weighted_capacity().map(String::from))
                                .set_instance_requirements(o.instance_requirements().cloned())
                                .launch_template_specification(writable_spec(s))
                                .build();
                        }
                        o
                    })
                    .collect(),
            ))
            .build()
    });
    MixedInstancesPolicy::builder()
        .set_launch_template(lt)
        .set_instances_distribution(m.instances_distribution().cloned())
        .build()
}

impl SdkAws {
    async fn group(&self, name: &str) -> Result<aws_sdk_autoscaling::types::AutoScalingGroup, AwsError> {
        let out = self
            .autoscaling()
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "DescribeAutoScalingGroups", e))?;
        out.auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(name))
            .cloned()
            .ok_or_else(|| not_found("autoscaling", "DescribeAutoScalingGroups", format!("Auto Scaling group {name}")))
    }

    async fn group_policies(&self, name: &str) -> Result<Vec<aws_sdk_autoscaling::types::ScalingPolicy>, AwsError> {
        let mut out = vec![];
        let mut next = None;
        loop {
            let page = self
                .autoscaling()
                .describe_policies()
                .auto_scaling_group_name(name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| classify("autoscaling", "DescribePolicies", e))?;
            out.extend(page.scaling_policies().iter().cloned());
            next = page.next_token().map(String::from);
            if next.is_none() {
                return Ok(out);
            }
        }
    }
}

impl SdkAws {
    /// DescribeTable of one table, as `act/` reads it before and during a change.
    async fn describe_table(&self, name: &str) -> Result<aws_sdk_dynamodb::types::TableDescription, AwsError> {
        let out = self
            .dynamodb()
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "DescribeTable", e))?;
        out.table
            .ok_or_else(|| not_found("dynamodb", "DescribeTable", format!("table {name}")))
    }
}

/// A table's billing mode as DescribeTable says it (PROVISIONED when it says nothing: tables
/// created before on-demand existed have no summary).
fn billing_mode(t: &aws_sdk_dynamodb::types::TableDescription) -> String {
    t.billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into())
}

fn dimension(read: bool) -> ScalableDimension {
    if read {
        ScalableDimension::DynamoDbTableReadCapacityUnits
    } else {
        ScalableDimension::DynamoDbTableWriteCapacityUnits
    }
}

impl SdkAws {
    /// Application Auto Scaling's (min, max) of a table's read and write capacity.
    async fn table_bounds(&self, name: &str) -> Result<(Option<(i64, i64)>, Option<(i64, i64)>), AwsError> {
        let targets = self
            .change
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_ids(format!("table/{name}"))
            .send()
            .await
            .map_err(|e| classify("applicationautoscaling", "DescribeScalableTargets", e))?;
        let bounds = |read: bool| {
            targets
                .scalable_targets()
                .iter()
                .find(|s| *s.scalable_dimension() == dimension(read))
                .map(|s| (i64::from(s.min_capacity()), i64::from(s.max_capacity())))
        };
        Ok((bounds(true), bounds(false)))
    }
}

impl Changes for SdkAws {
    async fn read_group(&self, name: &str) -> Result<GroupConfig, AwsError> {
        let g = self.group(name).await?;
        let policies = self.group_policies(name).await?;
        let refreshes = self
            .autoscaling()
            .describe_instance_refreshes()
            .auto_scaling_group_name(name)
            .max_records(1)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "DescribeInstanceRefreshes", e))?;
        let refresh = refreshes.instance_refreshes().first().map(|r| Refresh {
            id: r.instance_refresh_id().unwrap_or_default().to_string(),
            status: r.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            percent_complete: r.percentage_complete(),
            reason: r.status_reason().map(String::from),
        });
        let mix = g.mixed_instances_policy().map(|m| {
            let d = m.instances_distribution();
            Mix {
                on_demand_base_capacity: d.and_then(|d| d.on_demand_base_capacity()).unwrap_or(0),
                on_demand_percentage_above_base: d.and_then(|d| d.on_demand_percentage_above_base_capacity()).unwrap_or(100),
                spot_allocation_strategy: d.and_then(|d| d.spot_allocation_strategy()).map(String::from),
                overrides: overrides_of(m),
            }
        });
        let mut tags: Vec<(String, String)> = g
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect();
        tags.sort();
        Ok(GroupConfig {
            name: name.to_string(),
            min: g.min_size().unwrap_or(0),
            max: g.max_size().unwrap_or(0),
            desired: g.desired_capacity().unwrap_or(0),
            in_service: g.instances().iter().filter(|i| is_in_service(i)).count() as i32,
            tags,
            mix,
            policies: policies.iter().map(policy_of).collect(),
            refresh,
        })
    }

    async fn set_group_size(&self, name: &str, min: i32, max: i32, desired: i32) -> Result<(), AwsError> {
        // The group's mixed instances policy is sent back unchanged with the sizes: AWS keeps
        // an omitted policy, but moto (the test peer) drops it, and a whole-group write is
        // right on both.
        let g = self.group(name).await?;
        self.change
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .set_mixed_instances_policy(g.mixed_instances_policy().map(writable_policy))
            .send()
            .await
            .map_err(|e| classify("autoscaling", "UpdateAutoScalingGroup", e))?;
        Ok(())
    }

    async fn set_target_value(&self, group: &str, policy: &str, target: f64) -> Result<(), AwsError> {
        let policies = self.group_policies(group).await?;
        let p = policies
            .iter()
            .find(|p| p.policy_name() == Some(policy))
            .ok_or_else(|| not_found("autoscaling", "DescribePolicies", format!("scaling policy {policy} of {group}")))?;
        let tt = p.target_tracking_configuration().ok_or_else(|| {
            invalid(
                "autoscaling",
                "PutScalingPolicy",
                format!("policy {policy} of {group} is not target tracking"),
            )
        })?;
        // The full configuration, with only the target changed: PutScalingPolicy replaces it.
        let config = TargetTrackingConfiguration::builder()
            .set_predefined_metric_specification(tt.predefined_metric_specification().cloned())
            .set_customized_metric_specification(tt.customized_metric_specification().cloned())
            .set_disable_scale_in(tt.disable_scale_in())
            .target_value(target)
            .build();
        self.change
            .autoscaling
            .put_scaling_policy()
            .auto_scaling_group_name(group)
            .policy_name(policy)
            .policy_type("TargetTrackingScaling")
            .set_estimated_instance_warmup(p.estimated_instance_warmup())
            .set_enabled(p.enabled())
            .target_tracking_configuration(config)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "PutScalingPolicy", e))?;
        Ok(())
    }

    async fn set_mix(&self, group: &str, mix: &Mix) -> Result<(), AwsError> {
        let g = self.group(group).await?;
        let old = g.mixed_instances_policy().ok_or_else(|| {
            invalid(
                "autoscaling",
                "UpdateAutoScalingGroup",
                format!("{group} has no mixed instances policy: its instance types live in its launch template"),
            )
        })?;
        let lt = old.launch_template();
        // Keep each override headroom does not change whole (launch template, requirements).
        let kept = |t: &str| lt.and_then(|lt| lt.overrides().iter().find(|o| o.instance_type() == Some(t)).cloned());
        let overrides: Vec<LaunchTemplateOverrides> = mix
            .overrides
            .iter()
            .map(|o| match kept(&o.instance_type) {
                Some(k) => LaunchTemplateOverrides::builder()
                    .set_instance_type(k.instance_type().map(String::from))
                    .set_weighted_capacity(o.weighted_capacity.clone())
                    .set_launch_template_specification(k.launch_template_specification().map(writable_spec))
                    .set_instance_requirements(k.instance_requirements().cloned())
                    .build(),
                None => LaunchTemplateOverrides::builder()
                    .instance_type(o.instance_type.clone())
                    .set_weighted_capacity(o.weighted_capacity.clone())
                    .build(),
            })
            .collect();
        let d = old.instances_distribution();
        let distribution = SdkDistribution::builder()
            .set_on_demand_allocation_strategy(d.and_then(|d| d.on_demand_allocation_strategy()).map(String::from))
            .on_demand_base_capacity(mix.on_demand_base_capacity)
            .on_demand_percentage_above_base_capacity(mix.on_demand_percentage_above_base)
            .set_spot_allocation_strategy(
                mix.spot_allocation_strategy
                    .clone()
                    .or_else(|| d.and_then(|d| d.spot_allocation_strategy()).map(String::from)),
            )
            .set_spot_instance_pools(d.and_then(|d| d.spot_instance_pools()))
            .set_spot_max_price(d.and_then(|d| d.spot_max_price()).map(String::from))
            .build();
        let policy = MixedInstancesPolicy::builder()
            .launch_template(
                LaunchTemplate::builder()
                    .set_launch_template_specification(lt.and_then(|l| l.launch_template_specification()).map(writable_spec))
                    .set_overrides(Some(overrides))
                    .build(),
            )
            .instances_distribution(distribution)
            .build();
        self.change
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(group)
            .mixed_instances_policy(policy)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "UpdateAutoScalingGroup", e))?;
        Ok(())
    }

    async fn start_refresh(&self, group: &str, min_healthy_percent: i32) -> Result<String, AwsError> {
        let out = self
            .change
            .autoscaling
            .start_instance_refresh()
            .auto_scaling_group_name(group)
            .preferences(RefreshPreferences::builder().min_healthy_percentage(min_healthy_percent).build())
            .send()
            .await
            .map_err(|e| classify("autoscaling", "StartInstanceRefresh", e))?;
        Ok(out.instance_refresh_id().unwrap_or_default().to_string())
    }

    async fn read_table(&self, name: &str) -> Result<TableConfig, AwsError> {
        let t = &self.describe_table(name).await?;
        let mode = billing_mode(t);
        let pt = t.provisioned_throughput();
        let positive = |v: Option<i64>| v.filter(|x| *x > 0);
        let mut tags = vec![];
        if let Some(arn) = t.table_arn() {
            let out = self
                .dynamodb()
                .list_tags_of_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| classify("dynamodb", "ListTagsOfResource", e))?;
            tags = out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            tags.sort();
        }
        let (read_scaling, write_scaling) = self.table_bounds(name).await?;
        let provisioned = mode == "PROVISIONED";
        Ok(TableConfig {
            name: name.to_string(),
            // After a switch to on-demand, DescribeTable may still show the old numbers.
            rcu: positive(pt.and_then(|p| p.read_capacity_units())).filter(|_| provisioned),
            wcu: positive(pt.and_then(|p| p.write_capacity_units())).filter(|_| provisioned),
            decreases_today: pt.and_then(|p| p.number_of_decreases_today()).unwrap_or(0),
            mode,
            tags,
            read_scaling,
            write_scaling,
        })
    }

    async fn set_table(&self, name: &str, mode: &str, rcu: Option<i64>, wcu: Option<i64>) -> Result<(), AwsError> {
        let mut call = self
            .change
            .dynamodb
            .update_table()
            .table_name(name)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::from(mode));
        if mode == "PROVISIONED" {
            let (Some(r), Some(w)) = (rcu, wcu) else {
                return Err(invalid(
                    "dynamodb",
                    "UpdateTable",
                    format!("PROVISIONED {name} needs read and write capacity"),
                ));
            };
            let pt = aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(r)
                .write_capacity_units(w)
                .build()
                .map_err(|e| invalid("dynamodb", "UpdateTable", e.to_string()))?;
            call = call.provisioned_throughput(pt.clone());
            // Leaving on-demand, AWS needs every global secondary index's throughput too: each
            // gets the table's (its own traffic is not measured separately).
            let t = self.describe_table(name).await?;
            if billing_mode(&t) == "PAY_PER_REQUEST" {
                for gsi in t.global_secondary_indexes() {
                    let Some(index) = gsi.index_name() else { continue };
                    let update = aws_sdk_dynamodb::types::UpdateGlobalSecondaryIndexAction::builder()
                        .index_name(index)
                        .provisioned_throughput(pt.clone())
                        .build()
                        .map_err(|e| invalid("dynamodb", "UpdateTable", e.to_string()))?;
                    call = call.global_secondary_index_updates(
                        aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                            .update(update)
                            .build(),
                    );
                }
            }
        }
        call.send().await.map_err(|e| classify("dynamodb", "UpdateTable", e))?;
        Ok(())
    }

    async fn set_table_scaling(&self, name: &str, read: Option<(i64, i64)>, write: Option<(i64, i64)>) -> Result<(), AwsError> {
        let resource = format!("table/{name}");
        let registered = self.table_bounds(name).await?;
        for (is_read, bounds) in [(true, read), (false, write)] {
            match bounds {
                Some((lo, hi)) => {
                    let (lo, hi) = (
                        i32::try_from(lo)
                            .map_err(|_| invalid("applicationautoscaling", "RegisterScalableTarget", format!("{lo} units")))?,
                        i32::try_from(hi)
                            .map_err(|_| invalid("applicationautoscaling", "RegisterScalableTarget", format!("{hi} units")))?,
                    );
                    self.change
                        .scaling
                        .register_scalable_target()
                        .service_namespace(ServiceNamespace::Dynamodb)
                        .resource_id(&resource)
                        .scalable_dimension(dimension(is_read))
                        .min_capacity(lo)
                        .max_capacity(hi)
                        .send()
                        .await
                        .map_err(|e| classify("applicationautoscaling", "RegisterScalableTarget", e))?;
                    let metric = PredefinedMetricSpecification::builder()
                        .predefined_metric_type(if is_read {
                            MetricType::DynamoDbReadCapacityUtilization
                        } else {
                            MetricType::DynamoDbWriteCapacityUtilization
                        })
                        .build()
                        .map_err(|e| invalid("applicationautoscaling", "PutScalingPolicy", e.to_string()))?;
                    let config = TargetTrackingScalingPolicyConfiguration::builder()
                        .target_value(TABLE_SCALING_TARGET_PERCENT)
                        .predefined_metric_specification(metric)
                        .build()
                        .map_err(|e| invalid("applicationautoscaling", "PutScalingPolicy", e.to_string()))?;
                    self.change
                        .scaling
                        .put_scaling_policy()
                        .policy_name(format!("headroom-{}-{name}", if is_read { "read" } else { "write" }))
                        .service_namespace(ServiceNamespace::Dynamodb)
                        .resource_id(&resource)
                        .scalable_dimension(dimension(is_read))
                        .policy_type(PolicyType::TargetTrackingScaling)
                        .target_tracking_scaling_policy_configuration(config)
                        .send()
                        .await
                        .map_err(|e| classify("applicationautoscaling", "PutScalingPolicy", e))?;
                }
                None => {
                    let had = if is_read { registered.0 } else { registered.1 };
                    if had.is_some() {
                        self.change
                            .scaling
                            .deregister_scalable_target()
                            .service_namespace(ServiceNamespace::Dynamodb)
                            .resource_id(&resource)
                            .scalable_dimension(dimension(is_read))
                            .send()
                            .await
                            .map_err(|e| classify("applicationautoscaling", "DeregisterScalableTarget", e))?;
                    }
                }
            }
        }
        Ok(())
    }
}
